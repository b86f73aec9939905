#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| kafka_proto::fuzz::record_batch_decoder(data));
