//! Class `connection` (10): the handshake, tuning, close, and RabbitMQ's
//! blocked/unblocked and update-secret extensions.

use super::methods;
use crate::strings::{LongStr, ShortStr};
use crate::table::FieldTable;

methods! {
    class "connection" = 10;

    /// connection.start: the server proposes a protocol version, its
    /// properties, SASL mechanisms and locales.
    Start = 10, "start" {
        /// Protocol major version (0).
        version_major: u8 = "version-major",
        /// Protocol minor version (9).
        version_minor: u8 = "version-minor",
        /// Server properties, including `capabilities`.
        server_properties: FieldTable = "server-properties",
        /// Space-separated SASL mechanisms.
        mechanisms: LongStr = "mechanisms",
        /// Space-separated locales.
        locales: LongStr = "locales",
    }

    /// connection.start-ok: the client picks a mechanism and answers.
    StartOk = 11, "start-ok" {
        /// Client properties, including `capabilities`.
        client_properties: FieldTable = "client-properties",
        /// The chosen SASL mechanism.
        mechanism: ShortStr = "mechanism",
        /// The SASL response.
        response: LongStr = "response",
        /// The chosen locale.
        locale: ShortStr = "locale",
    }

    /// connection.secure: a SASL challenge.
    Secure = 20, "secure" {
        /// The challenge.
        challenge: LongStr = "challenge",
    }

    /// connection.secure-ok: the answer to a challenge.
    SecureOk = 21, "secure-ok" {
        /// The response.
        response: LongStr = "response",
    }

    /// connection.tune: the server proposes limits.
    Tune = 30, "tune" {
        /// Highest channel number, 0 for no limit.
        channel_max: u16 = "channel-max",
        /// Largest frame, 0 for no limit.
        frame_max: u32 = "frame-max",
        /// Heartbeat interval in seconds, 0 for none.
        heartbeat: u16 = "heartbeat",
    }

    /// connection.tune-ok: the client's negotiated limits.
    TuneOk = 31, "tune-ok" {
        /// Negotiated highest channel number.
        channel_max: u16 = "channel-max",
        /// Negotiated largest frame.
        frame_max: u32 = "frame-max",
        /// Negotiated heartbeat interval in seconds.
        heartbeat: u16 = "heartbeat",
    }

    /// connection.open: opens a virtual host.
    Open = 40, "open" {
        /// The virtual host.
        virtual_host: ShortStr = "virtual-host",
        /// Deprecated, empty.
        capabilities: ShortStr = "capabilities",
        /// Deprecated, false.
        insist: bool = "insist",
    }

    /// connection.open-ok: the virtual host is open.
    OpenOk = 41, "open-ok" {
        /// Deprecated, empty.
        known_hosts: ShortStr = "known-hosts",
    }

    /// connection.close: either side closes, with a reason.
    Close = 50, "close" {
        /// Reply code.
        reply_code: u16 = "reply-code",
        /// Reply text.
        reply_text: ShortStr = "reply-text",
        /// Class of the method that caused the close, or 0.
        class_id: u16 = "class-id",
        /// Method that caused the close, or 0.
        method_id: u16 = "method-id",
    }

    /// connection.close-ok: the close is done.
    CloseOk = 51, "close-ok" {}

    /// connection.blocked (RabbitMQ): the server has stopped reading publishes.
    Blocked = 60, "blocked" {
        /// Why, such as a memory or disk alarm.
        reason: ShortStr = "reason",
    }

    /// connection.unblocked (RabbitMQ): publishes flow again.
    Unblocked = 61, "unblocked" {}

    /// connection.update-secret (RabbitMQ): replaces an expiring credential.
    UpdateSecret = 70, "update-secret" {
        /// The new secret.
        new_secret: LongStr = "new-secret",
        /// Why.
        reason: ShortStr = "reason",
    }

    /// connection.update-secret-ok (RabbitMQ).
    UpdateSecretOk = 71, "update-secret-ok" {}
}
