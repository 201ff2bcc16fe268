//! The holder's dead-man switch (§10.1 #4, `lease-safety.md` §6.4): a thread
//! apart from the protocol loop that writes "not granted" to the CIB when a
//! granted ticket's deadline passes without a newer commit. Normally the
//! engine's own deadline timer does this first and disarms the guard; the
//! guard matters when the loop is stuck (a hung disk, a blocked syscall).

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use booth_core::{Duration, Instant};

use super::child;
use super::clock;

#[derive(Debug, Clone)]
struct Armed {
    deadline: Instant,
    name: String,
    /// `crm_ticket` arguments that record "not granted here".
    revoke: Vec<String>,
}

#[derive(Debug, Default)]
struct State {
    armed: Vec<Option<Armed>>,
    stop: bool,
    fired: u64,
}

type Shared = Arc<(Mutex<State>, Condvar)>;

/// Handle to the guard thread.
#[derive(Debug)]
pub struct LeaseGuard {
    shared: Shared,
    thread: Option<JoinHandle<()>>,
}

/// Longest the thread sleeps between checks (it re-reads CLOCK_BOOTTIME,
/// which the condition variable's clock does not follow through suspend).
const MAX_NAP: Duration = Duration::from_secs(1);

impl LeaseGuard {
    pub fn start(tickets: usize) -> std::io::Result<LeaseGuard> {
        let shared: Shared = Arc::new((
            Mutex::new(State {
                armed: vec![None; tickets],
                ..State::default()
            }),
            Condvar::new(),
        ));
        let s = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("lease-guard".to_owned())
            .spawn(move || guard_loop(&s))?;
        Ok(LeaseGuard {
            shared,
            thread: Some(thread),
        })
    }

    /// The ticket is granted here until `deadline`; `revoke` undoes it in the CIB.
    pub fn arm(&self, ticket: usize, name: &str, deadline: Instant, revoke: Vec<String>) {
        let (lock, cv) = &*self.shared;
        let mut st = lock.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = st.armed.get_mut(ticket) {
            *slot = Some(Armed {
                deadline,
                name: name.to_owned(),
                revoke,
            });
        }
        cv.notify_one();
    }

    /// The ticket is no longer granted here (the loop wrote that itself).
    pub fn disarm(&self, ticket: usize) {
        let (lock, _) = &*self.shared;
        let mut st = lock.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = st.armed.get_mut(ticket) {
            *slot = None;
        }
    }

    /// Times the guard had to step in.
    pub fn fired(&self) -> u64 {
        let (lock, _) = &*self.shared;
        lock.lock().unwrap_or_else(|e| e.into_inner()).fired
    }
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        {
            let (lock, cv) = &*self.shared;
            let mut st = lock.lock().unwrap_or_else(|e| e.into_inner());
            st.stop = true;
            cv.notify_one();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn guard_loop(shared: &Shared) {
    let (lock, cv) = &**shared;
    let mut st = lock.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if st.stop {
            return;
        }
        let now = clock::mono();
        let due = st
            .armed
            .iter()
            .enumerate()
            .filter_map(|(i, a)| a.as_ref().map(|a| (i, a.deadline)))
            .min_by_key(|(_, d)| *d);
        match due {
            Some((i, deadline)) if deadline <= now => {
                let Some(armed) = st.armed[i].take() else {
                    continue;
                };
                st.fired += 1;
                drop(st);
                revoke(&armed);
                st = lock.lock().unwrap_or_else(|e| e.into_inner());
            }
            other => {
                let nap = other
                    .map(|(_, d)| d.saturating_since(now))
                    .unwrap_or(MAX_NAP)
                    .min(MAX_NAP);
                let (s, _) = cv
                    .wait_timeout(st, std::time::Duration::from_millis(nap.as_millis().max(1)))
                    .unwrap_or_else(|e| e.into_inner());
                st = s;
            }
        }
    }
}

fn revoke(a: &Armed) {
    log::error!(
        "ticket {}: lease deadline passed without renewal while granted here; \
         lease guard writes not-granted to the CIB",
        a.name
    );
    let mut cmd = std::process::Command::new(super::cib::CRM_TICKET);
    cmd.args(&a.revoke);
    match child::spawn(cmd, false, clock::mono() + super::cib::WRITE_TIMEOUT) {
        Ok(r) => {
            let f = r.wait_blocking(clock::mono);
            if !f.outcome.success() {
                log::error!(
                    "ticket {}: lease guard {}: {} {}",
                    a.name,
                    super::cib::CRM_TICKET,
                    f.outcome,
                    f.stderr
                );
            }
        }
        Err(e) => log::error!(
            "ticket {}: lease guard cannot run {}: {e}",
            a.name,
            super::cib::CRM_TICKET
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_once_at_the_deadline_unless_disarmed() {
        let g = LeaseGuard::start(2).unwrap();
        let now = clock::mono();
        // crm_ticket is usually absent here: the spawn error is logged only.
        g.arm(0, "t0", now + Duration(100), vec!["-t".into(), "t0".into()]);
        g.arm(1, "t1", now + Duration(100), vec![]);
        g.disarm(1);
        let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while g.fired() == 0 && std::time::Instant::now() < until {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert_eq!(g.fired(), 1);
        // Re-arming far out does not fire.
        g.arm(0, "t0", clock::mono() + Duration(60_000), vec![]);
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert_eq!(g.fired(), 1);
        drop(g);
    }
}
