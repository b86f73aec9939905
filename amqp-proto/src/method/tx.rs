//! Class `tx` (90): standard transactions.

use super::methods;

methods! {
    class "tx" = 90;

    /// tx.select: puts the channel in transaction mode.
    Select = 10, "select" {}
    /// tx.select-ok.
    SelectOk = 11, "select-ok" {}
    /// tx.commit.
    Commit = 20, "commit" {}
    /// tx.commit-ok.
    CommitOk = 21, "commit-ok" {}
    /// tx.rollback.
    Rollback = 30, "rollback" {}
    /// tx.rollback-ok.
    RollbackOk = 31, "rollback-ok" {}
}
