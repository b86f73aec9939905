//! SaslHandshake (key 17): choose a SASL mechanism.

use crate::error::ErrorCode;

kafka_struct! {
    /// Asks to authenticate with a mechanism.
    pub struct SaslHandshakeRequest {
        /// Mechanism name (`"PLAIN"`).
        mechanism: String = "0+";
    }
}

kafka_struct! {
    /// The broker's answer.
    pub struct SaslHandshakeResponse {
        /// Error, or NONE (UNSUPPORTED_SASL_MECHANISM otherwise).
        error_code: ErrorCode = "0+";
        /// Mechanisms the broker enables.
        mechanisms: Vec<String> = "0+";
    }
}

kafka_api!(SaslHandshakeRequest => SaslHandshakeResponse, key SASL_HANDSHAKE, versions 0..=1, flexible None);
