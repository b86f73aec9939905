#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| amqp_proto::fuzz::frame_decoder(data));
