//! Class `confirm` (85, RabbitMQ): publisher confirms.

use super::methods;

methods! {
    class "confirm" = 85;

    /// confirm.select: the server will ack or nack every publish.
    Select = 10, "select" {
        /// Expect no reply.
        nowait: bool = "nowait",
    }

    /// confirm.select-ok.
    SelectOk = 11, "select-ok" {}
}
