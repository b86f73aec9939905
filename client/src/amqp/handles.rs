//! What every handle of a connection holds: the queues to its driver, the
//! state they share, and the timeouts every call runs under.

use std::sync::Arc;

use tokio::sync::oneshot;

use super::command::{Control, State};
use super::command_queue::CommandQueue;
use super::error::{Error, Result};
use super::publish_queue::PublishQueue;

/// The queues to one driver. The last handle's drop tells the driver.
#[derive(Debug)]
pub(crate) struct Handles {
    pub(crate) commands: Arc<CommandQueue>,
    pub(crate) publish_queue: Arc<PublishQueue>,
    pub(crate) state: Arc<State>,
    pub(crate) operation_timeout: std::time::Duration,
    pub(crate) close_timeout: std::time::Duration,
    pub(crate) confirm_timeout: Option<std::time::Duration>,
}

impl Drop for Handles {
    fn drop(&mut self) {
        self.commands.release();
    }
}

impl Handles {
    /// Sends a command and waits for its answer, within the operation
    /// timeout. Dropping the future leaves the command to complete in the
    /// driver; its answer is discarded.
    pub(crate) async fn call<T>(
        &self,
        operation: &'static str,
        cmd: Control,
        rx: oneshot::Receiver<Result<T>>,
    ) -> Result<T> {
        let limit = self.operation_timeout;
        let work = async {
            self.commands
                .push(cmd)
                .await
                .map_err(|_| self.state.gone())?;
            rx.await.map_err(|_| self.state.gone())?
        };
        match tokio::time::timeout(limit, work).await {
            Ok(r) => r,
            Err(_) => Err(Error::Timeout {
                operation,
                after: limit,
            }),
        }
    }
}
