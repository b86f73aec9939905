//! Class `access` (30): deprecated access tickets, kept because the spec
//! file lists them. RabbitMQ answers access.request with a ticket of 1.

use super::methods;
use crate::strings::ShortStr;

methods! {
    class "access" = 30;

    /// access.request (deprecated).
    Request = 10, "request" {
        /// Realm name.
        realm: ShortStr = "realm",
        /// Exclusive access.
        exclusive: bool = "exclusive",
        /// Passive access.
        passive: bool = "passive",
        /// Active access.
        active: bool = "active",
        /// Write access.
        write: bool = "write",
        /// Read access.
        read: bool = "read",
    }

    /// access.request-ok (deprecated).
    RequestOk = 11, "request-ok" {
        /// The ticket.
        ticket: u16 = "ticket",
    }
}
