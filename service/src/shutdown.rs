//! A shutdown signal: a tiny cancellation token on `tokio::sync::watch`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use tokio::sync::watch;

/// Tells subscribers to stop. Clones share one signal; once triggered it
/// stays triggered.
///
/// ```
/// # async fn f() {
/// let shutdown = mq_service::Shutdown::new();
/// let waiter = shutdown.clone();
/// tokio::spawn(async move { waiter.triggered().await; /* stop */ });
/// shutdown.trigger();
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Read for every message: one atomic load, where the watch's value
    /// takes a read lock.
    flag: AtomicBool,
    /// Wakes the waiters.
    tx: watch::Sender<bool>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    /// A signal not yet triggered.
    pub fn new() -> Self {
        Shutdown {
            inner: Arc::new(Inner {
                flag: AtomicBool::new(false),
                tx: watch::channel(false).0,
            }),
        }
    }

    /// Triggers it (again is harmless).
    pub fn trigger(&self) {
        self.inner.flag.store(true, Ordering::Release);
        self.inner.tx.send_replace(true);
    }

    /// Whether it was triggered.
    pub fn is_triggered(&self) -> bool {
        self.inner.flag.load(Ordering::Acquire)
    }

    /// Waits until it is triggered.
    pub async fn triggered(&self) {
        let mut rx = self.inner.tx.subscribe();
        // The sender lives in `self`, so this cannot fail.
        let _ = rx.wait_for(|t| *t).await;
    }
}

impl Shutdown {
    /// Waits until it is triggered, like [`Shutdown::triggered`], but
    /// takes three words until first polled and boxes its wait only then:
    /// the stop side of a race whose other side is usually ready at once
    /// (which `triggered`'s 176-byte future made part of every message's
    /// job).
    pub(crate) fn stopped(&self) -> Stopped<'_> {
        Stopped {
            shutdown: self,
            wait: None,
        }
    }
}

/// See [`Shutdown::stopped`].
pub(crate) struct Stopped<'a> {
    shutdown: &'a Shutdown,
    wait: Option<Pin<Box<dyn Future<Output = ()> + Send + 'a>>>,
}

impl Future for Stopped<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        if this.wait.is_none() {
            if this.shutdown.is_triggered() {
                return Poll::Ready(());
            }
            this.wait = Some(Box::pin(this.shutdown.triggered()));
        }
        match &mut this.wait {
            Some(w) => w.as_mut().poll(cx),
            None => Poll::Ready(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn clones_share_the_signal() {
        let s = Shutdown::new();
        let c = s.clone();
        assert!(!c.is_triggered());
        let waiter = tokio::spawn(async move { c.triggered().await });
        s.trigger();
        waiter.await.unwrap();
        assert!(s.is_triggered());
        // Already triggered: returns at once.
        s.triggered().await;
        s.stopped().await;
    }

    #[tokio::test]
    async fn stopped_waits_for_the_trigger() {
        let s = Shutdown::new();
        let c = s.clone();
        let waiter = tokio::spawn(async move { c.stopped().await });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        s.trigger();
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("woken by the trigger")
            .unwrap();
    }
}
