//! Benchmarks for the protocol cores and the clients.
//!
//! The criterion benches live in `benches/benches/`. Peer libraries are
//! measured in the same run behind the `peers` feature, so that ordinary
//! builds do not compile them. Results are recorded in `BENCHMARKS.md`.

use std::time::Duration;

/// User and system CPU time of the whole process so far (every thread),
/// from getrusage(2): the client's own cost, the broker being another
/// process.
#[allow(unsafe_code)]
pub fn cpu_times() -> (Duration, Duration) {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a rusage into the pointer it is given, which
    // points to zeroed memory of the right type and size.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let tv = |t: libc::timeval| {
        Duration::new(
            u64::try_from(t.tv_sec).unwrap_or(0),
            u32::try_from(t.tv_usec).unwrap_or(0).saturating_mul(1000),
        )
    };
    (tv(usage.ru_utime), tv(usage.ru_stime))
}

/// User plus system CPU time of the whole process so far.
pub fn cpu_time() -> Duration {
    let (user, system) = cpu_times();
    user + system
}
