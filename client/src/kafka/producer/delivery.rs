//! DeliveryFuture results: one shared slot per batch, and a cheap future per
//! record that reads it.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use super::super::cluster::lock;
use super::super::error::{Error, Result};

/// A batch's outcome, shared by its records' [`DeliveryFuture`] futures.
#[derive(Debug, Default)]
pub(crate) struct BatchDone {
    state: Mutex<DoneState>,
}

#[derive(Debug, Default)]
struct DoneState {
    /// The base offset (-1 when unknown, as with acks = 0), or the error.
    result: Option<Result<i64>>,
    wakers: Vec<Waker>,
}

impl BatchDone {
    /// Sets the outcome (once) and wakes every waiting record.
    pub(crate) fn complete(&self, result: Result<i64>) {
        let wakers = {
            let mut state = lock(&self.state);
            if state.result.is_some() {
                return;
            }
            state.result = Some(result);
            std::mem::take(&mut state.wakers)
        };
        for w in wakers {
            w.wake();
        }
    }

    fn poll(&self, cx: &mut Context<'_>) -> Poll<Result<i64>> {
        let mut state = lock(&self.state);
        if let Some(r) = &state.result {
            return Poll::Ready(r.clone());
        }
        if !state.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            state.wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// The outcome of one record: resolves to `(partition, offset)` once its
/// batch is acknowledged (offset -1 with acks = 0), or to the error that
/// failed it.
#[derive(Debug)]
#[must_use = "a DeliveryFuture says whether the record was written"]
pub struct DeliveryFuture {
    pub(crate) partition: i32,
    pub(crate) index: i32,
    pub(crate) done: Arc<BatchDone>,
}

impl DeliveryFuture {
    /// The partition the record went to.
    pub fn partition(&self) -> i32 {
        self.partition
    }
}

impl Future for DeliveryFuture {
    type Output = Result<(i32, i64), Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.done.poll(cx).map(|r| {
            r.map(|base| {
                let offset = if base < 0 {
                    -1
                } else {
                    base.saturating_add(i64::from(this.index))
                };
                (this.partition, offset)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn deliveries_share_their_batch_outcome() {
        let done = Arc::new(BatchDone::default());
        let a = DeliveryFuture {
            partition: 3,
            index: 0,
            done: done.clone(),
        };
        let b = DeliveryFuture {
            partition: 3,
            index: 4,
            done: done.clone(),
        };
        let waiter = tokio::spawn(async move { (a.await, b.await) });
        tokio::task::yield_now().await;
        done.complete(Ok(100));
        done.complete(Err(Error::Closed)); // ignored: the first outcome stands
        let (a, b) = waiter.await.unwrap();
        assert_eq!(a.unwrap(), (3, 100));
        assert_eq!(b.unwrap(), (3, 104));
        let unknown = Arc::new(BatchDone::default());
        unknown.complete(Ok(-1));
        let c = DeliveryFuture {
            partition: 1,
            index: 9,
            done: unknown,
        };
        assert_eq!(c.await.unwrap(), (1, -1));
    }
}
