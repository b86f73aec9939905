//! [`SubscriberBuilder::retry_holds_key`](super::SubscriberBuilder::retry_holds_key):
//! while a message waits in a delayed-retry stage, later messages of its
//! key wait in process, in their lane, until it is done.
//!
//! A hold is per lane (the key's hash). It is taken when a message of the
//! lane is forwarded to a stage, kept while it goes on from stage to
//! stage, and released when it is settled otherwise (processed, dead
//! letters). Messages back from a stage run in a pool of their own, so
//! they never queue behind the messages that wait for them.
//!
//! The hold lives in this process. It ends at its deadline (the delay,
//! plus the time the message may take once back, plus a margin) when the
//! message does not come back here: to another member of the group, or
//! after a restart. Then the key's order is given up, with a warning.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::pipeline::Outcome;
use crate::shutdown::Shutdown;

/// The holds of one subscriber.
#[derive(Debug)]
pub(crate) struct Holds {
    lanes: Mutex<HashMap<u64, Hold>>,
    released: Notify,
    /// Added to a stage's delay for a hold's deadline.
    grace: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Hold {
    /// Messages of the lane in a stage.
    count: u32,
    deadline: Instant,
}

/// Why a waiting message stopped waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Waited {
    /// The lane is free: go on.
    Go,
    /// The subscriber stops, or the message is no longer ours: leave it
    /// unsettled.
    Abandon,
}

impl Holds {
    pub(crate) fn new(grace: Duration) -> Self {
        Holds {
            lanes: Mutex::new(HashMap::new()),
            released: Notify::new(),
            grace,
        }
    }

    fn lanes(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Hold>> {
        self.lanes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A message of `lane` read from the source went to a stage of
    /// `delay`.
    pub(crate) fn hold(&self, lane: u64, delay: Duration) {
        let deadline = Instant::now() + delay + self.grace;
        let mut lanes = self.lanes();
        let h = lanes.entry(lane).or_insert(Hold { count: 0, deadline });
        h.count += 1;
        h.deadline = h.deadline.max(deadline);
    }

    /// A message of `lane` back from a stage went on to the next one: the
    /// hold lasts (and is taken if this process had none, as after a
    /// restart).
    pub(crate) fn extend(&self, lane: u64, delay: Duration) {
        let deadline = Instant::now() + delay + self.grace;
        let mut lanes = self.lanes();
        let h = lanes.entry(lane).or_insert(Hold { count: 1, deadline });
        h.deadline = h.deadline.max(deadline);
    }

    /// A message of `lane` back from a stage is done.
    pub(crate) fn release(&self, lane: u64) {
        let mut lanes = self.lanes();
        if let Some(h) = lanes.get_mut(&lane) {
            h.count = h.count.saturating_sub(1);
            if h.count == 0 {
                lanes.remove(&lane);
            }
        }
        drop(lanes);
        self.released.notify_waiters();
    }

    /// The hold of `lane` after one of its messages settled with
    /// `outcome`, read from the source or back `from_stage`.
    pub(crate) fn settled(&self, lane: u64, from_stage: bool, outcome: Outcome) {
        match (from_stage, outcome) {
            (false, Outcome::Delayed(delay)) => self.hold(lane, delay),
            (true, Outcome::Delayed(delay)) => self.extend(lane, delay),
            // Left to be delivered again: still in its stage.
            (true, Outcome::Abandoned) => {}
            (true, _) => self.release(lane),
            (false, _) => {}
        }
    }

    /// Whether `lane` is held.
    pub(crate) fn is_held(&self, lane: u64) -> bool {
        self.lanes().contains_key(&lane)
    }

    /// Waits until `lane` is free (or its hold's deadline passed), unless
    /// `stop` comes first or `still_ours` says the message is no longer
    /// this subscriber's (its partition was revoked).
    pub(crate) async fn wait(
        &self,
        lane: u64,
        stop: &Shutdown,
        hard_stop: &Shutdown,
        still_ours: impl Fn() -> bool,
    ) -> Waited {
        let mut warned = false;
        loop {
            // Registered before the check, so a release in between wakes it.
            let released = self.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            let deadline = {
                let mut lanes = self.lanes();
                match lanes.get(&lane) {
                    None => return Waited::Go,
                    Some(h) if h.deadline <= Instant::now() => {
                        lanes.remove(&lane);
                        tracing::warn!(
                            "a message of this key did not come back from its retry stage in time: \
                             its later messages go on without it, out of order"
                        );
                        return Waited::Go;
                    }
                    Some(h) => h.deadline,
                }
            };
            if !warned {
                tracing::debug!("waiting for the key's message in a retry stage");
                warned = true;
            }
            if stop.is_triggered() || hard_stop.is_triggered() || !still_ours() {
                return Waited::Abandon;
            }
            // Revocation is polled: it has no signal of its own.
            let poll = Instant::now() + Duration::from_millis(100);
            tokio::select! {
                () = released => {}
                () = stop.triggered() => return Waited::Abandon,
                () = hard_stop.triggered() => return Waited::Abandon,
                () = tokio::time::sleep_until(deadline.min(poll)) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn a_held_lane_waits_until_released() {
        let holds = Arc::new(Holds::new(Duration::from_secs(30)));
        let (stop, hard) = (Shutdown::new(), Shutdown::new());
        assert_eq!(holds.wait(7, &stop, &hard, || true).await, Waited::Go);
        holds.hold(7, Duration::from_secs(1));
        assert!(holds.is_held(7));
        let waiter = {
            let (holds, stop, hard) = (holds.clone(), stop.clone(), hard.clone());
            tokio::spawn(async move { holds.wait(7, &stop, &hard, || true).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished());
        // Still held on its way to the next stage.
        holds.extend(7, Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished());
        holds.release(7);
        assert_eq!(waiter.await.unwrap(), Waited::Go);
        assert!(!holds.is_held(7));
    }

    #[tokio::test]
    async fn a_hold_ends_at_its_deadline_or_on_stop() {
        let holds = Holds::new(Duration::from_millis(50));
        let (stop, hard) = (Shutdown::new(), Shutdown::new());
        let t0 = Instant::now();
        holds.hold(1, Duration::from_millis(100));
        assert_eq!(holds.wait(1, &stop, &hard, || true).await, Waited::Go);
        let waited = t0.elapsed();
        assert!(
            waited >= Duration::from_millis(150) && waited < Duration::from_secs(2),
            "{waited:?}"
        );
        assert!(!holds.is_held(1), "an expired hold is dropped");
        holds.hold(2, Duration::from_secs(60));
        assert_eq!(
            holds.wait(2, &stop, &hard, || false).await,
            Waited::Abandon,
            "no longer ours"
        );
        stop.trigger();
        assert_eq!(holds.wait(2, &stop, &hard, || true).await, Waited::Abandon);
    }

    #[test]
    fn holds_count_messages_of_the_lane() {
        let holds = Holds::new(Duration::from_secs(1));
        holds.hold(3, Duration::from_secs(1));
        holds.hold(3, Duration::from_secs(1));
        holds.release(3);
        assert!(holds.is_held(3));
        holds.release(3);
        assert!(!holds.is_held(3));
        holds.release(3); // a message this process never held
        holds.extend(4, Duration::from_secs(1)); // taken after a restart
        assert!(holds.is_held(4));
        holds.release(4);
        assert!(!holds.is_held(4));
    }
}
