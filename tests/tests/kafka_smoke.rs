//! Proves the Kafka from `scripts/brokers` is real: an ApiVersions v3
//! request sent as raw bytes gets a well-formed answer.

use mq_tests::{endpoints, probe};

#[tokio::test]
async fn broker_answers_api_versions() {
    let reply = probe::kafka_api_versions(endpoints::kafka_addr(), 0x5eed)
        .await
        .expect("Kafka must answer on the bootstrap port; run scripts/brokers up");
    assert_eq!(reply.correlation_id, 0x5eed);
    assert_eq!(reply.error_code, 0);
    let produce = reply.apis.iter().find(|a| a.api_key == 0).expect("Produce");
    let fetch = reply.apis.iter().find(|a| a.api_key == 1).expect("Fetch");
    let versions = reply
        .apis
        .iter()
        .find(|a| a.api_key == 18)
        .expect("ApiVersions");
    assert!(produce.max >= 3 && fetch.max >= 4, "{produce:?} {fetch:?}");
    assert!(versions.min <= 3 && 3 <= versions.max, "{versions:?}");
}
