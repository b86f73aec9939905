//! Entry points for the fuzz targets in `fuzz/` (one-line wrappers call
//! these). Hidden from the docs: not an API, but public so the
//! out-of-workspace fuzz crate can reach it. Each function takes arbitrary
//! bytes and must never panic, loop without bound or allocate without bound.

mod consumer_protocol;
mod messages;
mod records;
mod sasl;

pub use consumer_protocol::consumer_protocol_decoders;
pub use messages::{frame_decoder, response_decoder};
pub use records::record_batch_decoder;
pub use sasl::sasl_client;
