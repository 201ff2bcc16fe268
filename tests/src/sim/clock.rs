//! A member's clocks as functions of true time: an offset and a rate error.

/// Local monotonic time = offset + true time × (1 + ppm/10⁶), all in ms.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub offset_ms: u64,
    /// Rate error in parts per million (negative: slow).
    pub ppm: i64,
    /// Wall clock minus monotonic clock, in ms (wall-clock offsets must not matter).
    pub wall_offset_ms: u64,
}

impl Clock {
    /// The local reading at true time `t`.
    pub fn local(&self, t: u64) -> u64 {
        let scaled = t as i128 * (1_000_000 + self.ppm as i128) / 1_000_000;
        (self.offset_ms as i128 + scaled).min(u64::MAX as i128) as u64
    }

    /// The first true time at which the local clock reads at least `local`.
    pub fn true_at(&self, local: u64) -> u64 {
        if local <= self.offset_ms {
            return 0;
        }
        if local == u64::MAX {
            // `Instant::NEVER` (a manual grant): never, on every clock.
            return u64::MAX;
        }
        let l = (local - self.offset_ms) as i128;
        let denom = 1_000_000 + self.ppm as i128;
        let mut t = (l * 1_000_000 + denom - 1) / denom;
        // Integer rounding: step until the reading is reached.
        while t < u64::MAX as i128 && self.local(t as u64) < local {
            t += 1;
        }
        t.min(u64::MAX as i128) as u64
    }

    /// The true time at which the local clock read `local` (for auditing deadlines).
    pub fn true_of(&self, local: u64) -> u64 {
        self.true_at(local)
    }

    /// Wall clock: a common epoch plus this member's rate and its own offset.
    pub fn wall_us(&self, t: u64) -> u64 {
        (self.local(t) - self.offset_ms + self.wall_offset_ms) * 1000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn true_at_inverts_local() {
        for ppm in [-1000, 0, 1000, 250_000] {
            let c = Clock {
                offset_ms: 5000,
                ppm,
                wall_offset_ms: 0,
            };
            for t in [0u64, 1, 999, 123_456] {
                let l = c.local(t);
                assert!(c.true_at(l) <= t, "ppm {ppm} t {t}");
                assert!(c.local(c.true_at(l)) >= l);
            }
        }
    }
}
