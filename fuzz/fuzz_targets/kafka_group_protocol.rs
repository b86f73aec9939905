#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| mq_client::kafka::fuzz::group_protocol_decoders(data));
