//! A shutdown signal: a tiny cancellation token on `tokio::sync::watch`.

use std::sync::Arc;

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
    tx: Arc<watch::Sender<bool>>,
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
            tx: Arc::new(watch::channel(false).0),
        }
    }

    /// Triggers it (again is harmless).
    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }

    /// Whether it was triggered.
    pub fn is_triggered(&self) -> bool {
        *self.tx.borrow()
    }

    /// Waits until it is triggered.
    pub async fn triggered(&self) {
        let mut rx = self.tx.subscribe();
        // The sender lives in `self`, so this cannot fail.
        let _ = rx.wait_for(|t| *t).await;
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
    }
}
