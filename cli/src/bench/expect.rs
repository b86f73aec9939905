//! How long the consuming side of a bench keeps waiting.
//!
//! While the producer runs, the consumer waits for every message of the
//! run. Once the producer is done it reports how many the broker confirmed;
//! from then on the consumer waits only for those, and gives up after
//! [`IDLE`] without anything arriving (a confirmed message that never comes
//! shows as missing in the report).

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;

/// How long the consumer waits for a message once producing is over.
pub(crate) const IDLE: Duration = Duration::from_secs(5);

/// What [`Expected::next`] saw.
pub(crate) enum Next<T> {
    /// The consumer's next item.
    Item(T),
    /// Producing just ended: check [`Expected::count`] again.
    Recount,
    /// Producing is over and nothing came for [`IDLE`].
    Idle,
}

/// The number of messages the consumer still expects, following the
/// producer's final count.
pub(crate) struct Expected {
    count: u64,
    producing: bool,
    done: watch::Receiver<Option<u64>>,
}

impl Expected {
    /// Expects `count` messages until `done` carries the confirmed count.
    pub(crate) fn new(count: u64, done: watch::Receiver<Option<u64>>) -> Self {
        Expected {
            count,
            producing: true,
            done,
        }
    }

    /// How many messages the consumer waits for.
    pub(crate) fn count(&self) -> u64 {
        self.count
    }

    /// Awaits `next` (the consumer's next item, a cancel-safe future),
    /// unless producing ends first or, after it ended, nothing comes for
    /// [`IDLE`].
    pub(crate) async fn next<T>(&mut self, next: impl Future<Output = T>) -> Next<T> {
        if !self.producing {
            return match tokio::time::timeout(IDLE, next).await {
                Ok(item) => Next::Item(item),
                Err(_) => Next::Idle,
            };
        }
        tokio::select! {
            item = next => Next::Item(item),
            _ = self.done.changed() => {
                self.producing = false;
                if let Some(n) = *self.done.borrow() {
                    self.count = n;
                }
                Next::Recount
            }
        }
    }
}
