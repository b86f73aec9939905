//! The drivers' clock. Without the `test-broker` feature it is the
//! system's monotonic clock; with it, tokio's, which a paused runtime
//! (`tokio::time::pause`) moves only when every task waits, so that a
//! simulation's time is virtual and its runs repeat exactly.

use std::time::Instant;

/// Now, as the sans-IO cores take it.
#[inline]
pub(crate) fn now() -> Instant {
    #[cfg(feature = "test-broker")]
    {
        tokio::time::Instant::now().into_std()
    }
    #[cfg(not(feature = "test-broker"))]
    {
        Instant::now()
    }
}
