//! The simulated network: datagrams in flight with delivery times, loss,
//! duplication, delay and reordering, and partitions (symmetric or one-way).

use super::rng::SimRng;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// A datagram on its way.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct InFlight {
    pub deliver_at: u64,
    /// Tie-breaker that keeps delivery order deterministic.
    pub seq: u64,
    pub from: usize,
    pub to: usize,
    pub bytes: Vec<u8>,
}

/// How the network misbehaves at the moment.
#[derive(Debug, Clone, Copy)]
pub struct Weather {
    pub loss: f64,
    pub duplicate: f64,
    /// Base one-way delay and the extra random delay on top (reordering).
    pub delay_ms: u64,
    pub jitter_ms: u64,
}

impl Weather {
    pub const CALM: Weather = Weather {
        loss: 0.0,
        duplicate: 0.0,
        delay_ms: 1,
        jitter_ms: 2,
    };
}

/// Drops datagrams a scenario wants gone (e.g. every `UpdE` from the leader).
pub type Filter = Box<dyn FnMut(usize, usize, &[u8]) -> bool>;

pub struct Network {
    queue: BinaryHeap<Reverse<InFlight>>,
    seq: u64,
    pub weather: Weather,
    /// `blocked[from][to]`: datagrams from `from` to `to` are dropped.
    blocked: Vec<Vec<bool>>,
    pub filter: Option<Filter>,
    pub sent: u64,
    pub dropped: u64,
}

impl Network {
    pub fn new(members: usize) -> Self {
        Network {
            queue: BinaryHeap::new(),
            seq: 0,
            weather: Weather::CALM,
            blocked: vec![vec![false; members]; members],
            filter: None,
            sent: 0,
            dropped: 0,
        }
    }

    pub fn send(&mut self, rng: &mut SimRng, now: u64, from: usize, to: usize, bytes: Vec<u8>) {
        self.sent += 1;
        let filtered = self.filter.as_mut().is_some_and(|f| f(from, to, &bytes));
        if self.blocked[from][to] || filtered || rng.chance(self.weather.loss) {
            self.dropped += 1;
            return;
        }
        let copies = if rng.chance(self.weather.duplicate) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let delay = self.weather.delay_ms + rng.range(0, self.weather.jitter_ms);
            self.seq += 1;
            self.queue.push(Reverse(InFlight {
                deliver_at: now + delay,
                seq: self.seq,
                from,
                to,
                bytes: bytes.clone(),
            }));
        }
    }

    pub fn next_delivery(&self) -> Option<u64> {
        self.queue.peek().map(|Reverse(p)| p.deliver_at)
    }

    /// The next datagram due at `now`, unless a partition cut it in flight.
    pub fn pop_due(&mut self, now: u64) -> Option<Option<InFlight>> {
        if self.next_delivery()? > now {
            return None;
        }
        let Reverse(p) = self.queue.pop()?;
        if self.blocked[p.from][p.to] {
            self.dropped += 1;
            return Some(None);
        }
        Some(Some(p))
    }

    /// Cuts `a` from `b`; `both` cuts the way back too.
    pub fn cut(&mut self, a: usize, b: usize, both: bool) {
        self.blocked[a][b] = true;
        if both {
            self.blocked[b][a] = true;
        }
    }

    /// Isolates `group` from everybody else, both ways.
    pub fn isolate(&mut self, group: &[usize]) {
        let n = self.blocked.len();
        for &a in group {
            for b in 0..n {
                if !group.contains(&b) {
                    self.cut(a, b, true);
                }
            }
        }
    }

    pub fn heal(&mut self) {
        for row in &mut self.blocked {
            row.iter_mut().for_each(|b| *b = false);
        }
        self.filter = None;
        self.weather = Weather::CALM;
    }

    pub fn is_partitioned(&self) -> bool {
        self.blocked.iter().flatten().any(|b| *b)
    }
}
