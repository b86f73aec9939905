//! Connects to both brokers and says what they answered.
//!
//! `scripts/demo` runs this until the `mq` command line exists.

use mq_tests::{endpoints, probe};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let amqp = endpoints::amqp_addr();
    let start = probe::amqp_connection_start(amqp).await?;
    println!(
        "RabbitMQ at {amqp}: connection.start on channel {}, AMQP {}-{}, {} bytes of server properties",
        start.channel,
        start.version.0,
        start.version.1,
        start.payload.len()
    );

    let kafka = endpoints::kafka_addr();
    let versions = probe::kafka_api_versions(kafka, 1).await?;
    println!(
        "Kafka at {kafka}: ApiVersions answered with error code {} and {} APIs",
        versions.error_code,
        versions.apis.len()
    );
    for (key, name) in [
        (0, "Produce"),
        (1, "Fetch"),
        (3, "Metadata"),
        (18, "ApiVersions"),
    ] {
        if let Some(api) = versions.apis.iter().find(|a| a.api_key == key) {
            println!("  {name:<12} v{}..=v{}", api.min, api.max);
        }
    }
    Ok(())
}
