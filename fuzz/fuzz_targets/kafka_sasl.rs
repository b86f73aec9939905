#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| kafka_proto::fuzz::sasl_client(data));
