//! The tokio runtimes the broker commands run on (either protocol).
//!
//! Each runtime is shut down without waiting for its blocking threads:
//! one may sit in a read of stdin that never ends (a terminal, an open
//! pipe), and the command is over.

use std::future::Future;

use crate::error::{CliError, Failure};

/// Runs a command's future on a runtime on this thread (stdout stays
/// locked by this thread, so the future need not be `Send`).
pub(crate) fn block_on<T>(f: impl Future<Output = Result<T, CliError>>) -> Result<T, CliError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(cannot_start)?;
    let result = rt.block_on(f);
    rt.shutdown_background();
    result
}

/// Runs a future on a runtime with a worker thread per core, so that the
/// producing and the consuming side of `mq bench` run in parallel.
pub(crate) fn block_on_threads<T>(
    f: impl Future<Output = Result<T, CliError>>,
) -> Result<T, CliError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(cannot_start)?;
    let result = rt.block_on(f);
    rt.shutdown_background();
    result
}

fn cannot_start(e: std::io::Error) -> CliError {
    CliError::new(Failure::Io, format!("cannot start the runtime: {e}"))
}
