//! CPU time of the whole process (every thread, user and system), from
//! getrusage(2).

use std::time::Duration;

/// User and system CPU time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct CpuTime {
    /// Time spent in the program.
    pub(crate) user: Duration,
    /// Time spent in the kernel on its behalf (socket reads and writes).
    pub(crate) system: Duration,
}

impl CpuTime {
    /// The process's CPU time so far.
    pub(crate) fn now() -> CpuTime {
        let usage = rusage_self();
        let tv = |t: libc::timeval| {
            Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
                + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
        };
        CpuTime {
            user: tv(usage.ru_utime),
            system: tv(usage.ru_stime),
        }
    }

    /// The time spent between `earlier` and `self`.
    pub(crate) fn since(self, earlier: CpuTime) -> CpuTime {
        CpuTime {
            user: self.user.saturating_sub(earlier.user),
            system: self.system.saturating_sub(earlier.system),
        }
    }

    /// User plus system time.
    pub(crate) fn total(self) -> Duration {
        self.user + self.system
    }
}

/// getrusage(RUSAGE_SELF): the one unsafe call of the command line.
#[allow(unsafe_code)]
fn rusage_self() -> libc::rusage {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes one `rusage` through the pointer, which
    // points to zeroed memory of that type; zeroed memory is a valid
    // `rusage` (integers only) even if the call failed and wrote nothing.
    unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_grows_with_work() {
        let before = CpuTime::now();
        // Spin until the clock ticks (its resolution may be coarse).
        let mut x = 0u64;
        while CpuTime::now().since(before).total() == Duration::ZERO {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let spent = CpuTime::now().since(before);
        assert!(spent.total() > Duration::ZERO);
        assert_eq!(before.since(CpuTime::now()), CpuTime::default());
    }
}
