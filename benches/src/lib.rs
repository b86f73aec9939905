//! Benchmarks for the protocol cores and the clients.
//!
//! The criterion benches live in `benches/benches/`. Peer libraries are
//! measured in the same run behind the `peers` feature, so that ordinary
//! builds do not compile them. Results are recorded in `BENCHMARKS.md`.
