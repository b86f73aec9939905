#![no_main]
//! The configuration parsers that read user and file input: RabbitMQ URIs
//! (`AmqpUri`) and Kafka client properties (`ClientConfig::from_properties`,
//! Java and librdkafka names). Neither may panic, whatever the text; a
//! parsed URI also prints (Debug, authority) without panicking.
use std::str::FromStr;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    if which % 2 == 0 {
        if let Ok(uri) = mq_client::amqp::AmqpUri::from_str(&text) {
            let _ = format!("{uri:?}");
            let _ = uri.authority();
        }
    } else {
        let props = text.lines().filter_map(|l| l.split_once('='));
        if let Ok(config) = mq_client::kafka::ClientConfig::from_properties(props) {
            let _ = format!("{config:?}");
        }
    }
});
