//! Entry points for the fuzz targets (`fuzz/` wraps each in one line).
//!
//! Hidden from the docs: not an API, but public so the out-of-workspace
//! fuzz crate can reach it. Each function must never panic and never
//! allocate without bound, whatever the input.
pub fn record_batch_decoder(_data: &[u8]) {}
