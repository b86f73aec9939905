//! SaslAuthenticate (key 36): carry SASL tokens.

use bytes::Bytes;

use crate::error::ErrorCode;

kafka_struct! {
    /// A SASL token from the client.
    pub struct SaslAuthenticateRequest {
        /// The token (for PLAIN: `authzid NUL user NUL password`).
        auth_bytes: Bytes = "0+";
    }
}

kafka_struct! {
    /// The broker's token or verdict.
    pub struct SaslAuthenticateResponse {
        /// Error, or NONE.
        error_code: ErrorCode = "0+";
        /// Error message.
        error_message: Option<String> = "0+" nullable "0+";
        /// The broker's token.
        auth_bytes: Bytes = "0+";
        /// Session lifetime, in milliseconds (0 = none).
        session_lifetime_ms: i64 = "1+" default 0;
    }
}

kafka_api!(SaslAuthenticateRequest => SaslAuthenticateResponse, key SASL_AUTHENTICATE, versions 0..=2, flexible Some(2));
