//! Class `exchange` (40): declare, delete, and RabbitMQ's
//! exchange-to-exchange bind and unbind.

use super::methods;
use crate::strings::ShortStr;
use crate::table::FieldTable;

methods! {
    class "exchange" = 40;

    /// exchange.declare.
    Declare = 10, "declare" {
        /// Deprecated, 0.
        ticket: u16 = "ticket",
        /// Exchange name.
        exchange: ShortStr = "exchange",
        /// Exchange type: direct, fanout, topic, headers, or a plugin's.
        kind: ShortStr = "type",
        /// Only check that it exists.
        passive: bool = "passive",
        /// Survives a broker restart.
        durable: bool = "durable",
        /// Deleted when its last binding goes.
        auto_delete: bool = "auto-delete",
        /// Only other exchanges may publish to it.
        internal: bool = "internal",
        /// Expect no reply.
        nowait: bool = "nowait",
        /// Extra arguments, such as `alternate-exchange`.
        arguments: FieldTable = "arguments",
    }

    /// exchange.declare-ok.
    DeclareOk = 11, "declare-ok" {}

    /// exchange.delete.
    Delete = 20, "delete" {
        /// Deprecated, 0.
        ticket: u16 = "ticket",
        /// Exchange name.
        exchange: ShortStr = "exchange",
        /// Only if it has no bindings.
        if_unused: bool = "if-unused",
        /// Expect no reply.
        nowait: bool = "nowait",
    }

    /// exchange.delete-ok.
    DeleteOk = 21, "delete-ok" {}

    /// exchange.bind (RabbitMQ): binds an exchange to an exchange.
    Bind = 30, "bind" {
        /// Deprecated, 0.
        ticket: u16 = "ticket",
        /// The exchange that receives.
        destination: ShortStr = "destination",
        /// The exchange that routes.
        source: ShortStr = "source",
        /// Binding key.
        routing_key: ShortStr = "routing-key",
        /// Expect no reply.
        nowait: bool = "nowait",
        /// Binding arguments.
        arguments: FieldTable = "arguments",
    }

    /// exchange.bind-ok (RabbitMQ).
    BindOk = 31, "bind-ok" {}

    /// exchange.unbind (RabbitMQ).
    Unbind = 40, "unbind" {
        /// Deprecated, 0.
        ticket: u16 = "ticket",
        /// The exchange that receives.
        destination: ShortStr = "destination",
        /// The exchange that routes.
        source: ShortStr = "source",
        /// Binding key.
        routing_key: ShortStr = "routing-key",
        /// Expect no reply.
        nowait: bool = "nowait",
        /// Binding arguments.
        arguments: FieldTable = "arguments",
    }

    /// exchange.unbind-ok (RabbitMQ; method id 51, not 41).
    UnbindOk = 51, "unbind-ok" {}
}
