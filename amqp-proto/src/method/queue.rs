//! Class `queue` (50): declare, bind, purge, delete, unbind.

use super::methods;
use crate::strings::ShortStr;
use crate::table::FieldTable;

methods! {
    class "queue" = 50;

    /// queue.declare. An empty name asks the server to name the queue.
    Declare = 10, "declare" {
        /// Deprecated, 0.
        ticket: u16 = "ticket",
        /// Queue name, or empty for a server-named queue.
        queue: ShortStr = "queue",
        /// Only check that it exists.
        passive: bool = "passive",
        /// Survives a broker restart.
        durable: bool = "durable",
        /// Used only by this connection, deleted when it closes.
        exclusive: bool = "exclusive",
        /// Deleted when its last consumer goes.
        auto_delete: bool = "auto-delete",
        /// Expect no reply.
        nowait: bool = "nowait",
        /// Arguments such as `x-queue-type`, `x-message-ttl`, `x-dead-letter-exchange`.
        arguments: FieldTable = "arguments",
    }

    /// queue.declare-ok.
    DeclareOk = 11, "declare-ok" {
        /// The queue's name (the server's choice for a server-named queue).
        queue: ShortStr = "queue",
        /// Messages ready.
        message_count: u32 = "message-count",
        /// Active consumers.
        consumer_count: u32 = "consumer-count",
    }

    /// queue.bind.
    Bind = 20, "bind" {
        /// Deprecated, 0.
        ticket: u16 = "ticket",
        /// Queue name.
        queue: ShortStr = "queue",
        /// Exchange name.
        exchange: ShortStr = "exchange",
        /// Binding key.
        routing_key: ShortStr = "routing-key",
        /// Expect no reply.
        nowait: bool = "nowait",
        /// Binding arguments (headers exchanges match on them).
        arguments: FieldTable = "arguments",
    }

    /// queue.bind-ok.
    BindOk = 21, "bind-ok" {}

    /// queue.purge.
    Purge = 30, "purge" {
        /// Deprecated, 0.
        ticket: u16 = "ticket",
        /// Queue name.
        queue: ShortStr = "queue",
        /// Expect no reply.
        nowait: bool = "nowait",
    }

    /// queue.purge-ok.
    PurgeOk = 31, "purge-ok" {
        /// Messages purged.
        message_count: u32 = "message-count",
    }

    /// queue.delete.
    Delete = 40, "delete" {
        /// Deprecated, 0.
        ticket: u16 = "ticket",
        /// Queue name.
        queue: ShortStr = "queue",
        /// Only if it has no consumers.
        if_unused: bool = "if-unused",
        /// Only if it has no messages.
        if_empty: bool = "if-empty",
        /// Expect no reply.
        nowait: bool = "nowait",
    }

    /// queue.delete-ok.
    DeleteOk = 41, "delete-ok" {
        /// Messages deleted.
        message_count: u32 = "message-count",
    }

    /// queue.unbind (no nowait flag).
    Unbind = 50, "unbind" {
        /// Deprecated, 0.
        ticket: u16 = "ticket",
        /// Queue name.
        queue: ShortStr = "queue",
        /// Exchange name.
        exchange: ShortStr = "exchange",
        /// Binding key.
        routing_key: ShortStr = "routing-key",
        /// Binding arguments.
        arguments: FieldTable = "arguments",
    }

    /// queue.unbind-ok.
    UnbindOk = 51, "unbind-ok" {}
}
