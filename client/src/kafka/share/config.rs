//! The share consumer's settings and builder, with the Java client's
//! property names where it has them.

use std::sync::Arc;
use std::time::Duration;

use super::consumer::ShareConsumer;
use crate::kafka::config::{ClientConfig, client_config_setters};
use crate::kafka::error::{Error, Result};

/// How records are acknowledged (`share.acknowledgement.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AcknowledgementMode {
    /// Each record is acknowledged by the application (`accept`,
    /// `release`, `reject`). The default.
    #[default]
    Explicit,
    /// A record handed out is accepted when the application asks for the
    /// next one (or closes the consumer), unless it was acknowledged
    /// otherwise before.
    Implicit,
}

/// How the broker acquires records (`share.acquire.mode`, ShareFetch v2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AcquireMode {
    /// At most `max.poll.records` (and the room left under the in-flight
    /// bound) are acquired per fetch. The default here.
    #[default]
    RecordLimit,
    /// Whole record batches are acquired, which may pass the count; the
    /// consumer releases at once what it cannot hand out under the
    /// in-flight bound.
    BatchOptimized,
}

/// Share consumer settings, named after Java's.
#[derive(Debug, Clone)]
pub(crate) struct ShareSettings {
    pub(crate) group_id: Arc<str>,
    pub(crate) rack_id: Option<String>,
    pub(crate) mode: AcknowledgementMode,
    pub(crate) acquire_mode: AcquireMode,
    pub(crate) max_poll_records: usize,
    pub(crate) max_in_flight: usize,
    pub(crate) fetch_max_wait: Duration,
    pub(crate) fetch_min_bytes: i32,
    pub(crate) fetch_max_bytes: i32,
    pub(crate) max_partition_fetch_bytes: i32,
}

impl Default for ShareSettings {
    fn default() -> Self {
        ShareSettings {
            group_id: "".into(),
            rack_id: None,
            mode: AcknowledgementMode::Explicit,
            acquire_mode: AcquireMode::RecordLimit,
            max_poll_records: 500,
            max_in_flight: 1000,
            fetch_max_wait: Duration::from_millis(500),
            fetch_min_bytes: 1,
            fetch_max_bytes: 52_428_800,
            max_partition_fetch_bytes: 1_048_576,
        }
    }
}

impl ShareSettings {
    pub(crate) fn validate(&self) -> Result<()> {
        if self.group_id.is_empty() {
            return Err(Error::Config(
                "a share consumer needs a group id (ShareConsumerBuilder::group)".into(),
            ));
        }
        if self.max_poll_records == 0 || self.max_in_flight == 0 {
            return Err(Error::Config(
                "max.poll.records and the in-flight bound must be above zero".into(),
            ));
        }
        if i32::try_from(self.fetch_max_wait.as_millis()).is_err() {
            return Err(Error::Config(format!(
                "fetch.max.wait.ms {:?} does not fit the protocol",
                self.fetch_max_wait
            )));
        }
        if self.fetch_min_bytes < 0 || self.fetch_max_bytes <= 0 {
            return Err(Error::Config(
                "fetch.min.bytes must be at least 0 and fetch.max.bytes above 0".into(),
            ));
        }
        Ok(())
    }

    /// Applies one share consumer property; `false` if it is not one.
    fn apply(&mut self, key: &str, value: &str) -> Result<bool> {
        let bad = |why: &str| Error::Config(format!("{key}={value}: {why}"));
        let count = || -> Result<usize> { value.parse::<usize>().map_err(|_| bad("not a count")) };
        let int = || -> Result<i32> { value.parse::<i32>().map_err(|_| bad("not a number")) };
        match key {
            "group.id" => self.group_id = value.into(),
            "client.rack" => self.rack_id = Some(value.to_owned()),
            "share.acknowledgement.mode" => {
                self.mode = match value.to_ascii_lowercase().as_str() {
                    "explicit" => AcknowledgementMode::Explicit,
                    "implicit" => AcknowledgementMode::Implicit,
                    _ => return Err(bad("explicit or implicit")),
                }
            }
            "share.acquire.mode" => {
                self.acquire_mode = match value.to_ascii_lowercase().as_str() {
                    "record_limit" => AcquireMode::RecordLimit,
                    "batch_optimized" => AcquireMode::BatchOptimized,
                    _ => return Err(bad("record_limit or batch_optimized")),
                }
            }
            "max.poll.records" => self.max_poll_records = count()?,
            "fetch.max.wait.ms" => {
                self.fetch_max_wait = Duration::from_millis(
                    value.parse::<u64>().map_err(|_| bad("not milliseconds"))?,
                )
            }
            "fetch.min.bytes" => self.fetch_min_bytes = int()?,
            "fetch.max.bytes" => self.fetch_max_bytes = int()?,
            "max.partition.fetch.bytes" => self.max_partition_fetch_bytes = int()?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// Builds a [`ShareConsumer`].
#[derive(Debug, Clone)]
pub struct ShareConsumerBuilder {
    pub(crate) client: ClientConfig,
    pub(crate) settings: ShareSettings,
    pub(crate) topics: Vec<String>,
}

impl ShareConsumerBuilder {
    pub(crate) fn new(bootstrap: &str) -> Self {
        ShareConsumerBuilder {
            client: ClientConfig::new(bootstrap),
            settings: ShareSettings::default(),
            topics: Vec::new(),
        }
    }

    /// A builder from Java-style properties: `bootstrap.servers` (required),
    /// `group.id`, `client.id`, `share.acknowledgement.mode` (`explicit`
    /// or `implicit`), `share.acquire.mode`, `max.poll.records`,
    /// `fetch.max.wait.ms`, `fetch.min.bytes`, `fetch.max.bytes`,
    /// `max.partition.fetch.bytes`, `client.rack`, and the connection and
    /// security properties of [`ClientConfig::from_properties`]. Java's
    /// deserializer properties are accepted and ignored (records are
    /// bytes); an unknown property is an error.
    pub fn from_properties<I, K, V>(props: I) -> Result<Self>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut settings = ShareSettings::default();
        let mut rest: Vec<(String, String)> = Vec::new();
        for (k, v) in props {
            let (k, v) = (k.as_ref().trim(), v.as_ref().trim());
            if k == "key.deserializer" || k == "value.deserializer" {
                continue;
            }
            if !settings.apply(k, v)? {
                rest.push((k.to_owned(), v.to_owned()));
            }
        }
        let client = ClientConfig::from_properties(rest)?;
        Ok(ShareConsumerBuilder {
            client,
            settings,
            topics: Vec::new(),
        })
    }

    client_config_setters!();

    /// The share group (`group.id`); required.
    pub fn group(mut self, group_id: impl Into<String>) -> Self {
        self.settings.group_id = group_id.into().into();
        self
    }

    /// The topics to consume (the group's subscription by name).
    pub fn subscribe<I, S>(mut self, topics: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.topics = topics.into_iter().map(Into::into).collect();
        self
    }

    /// `share.acknowledgement.mode`. Default explicit.
    pub fn acknowledgement_mode(mut self, mode: AcknowledgementMode) -> Self {
        self.settings.mode = mode;
        self
    }

    /// `share.acquire.mode`. Default record-limit.
    pub fn acquire_mode(mut self, mode: AcquireMode) -> Self {
        self.settings.acquire_mode = mode;
        self
    }

    /// Most records one fetch acquires (`max.poll.records`). Default 500.
    pub fn max_poll_records(mut self, n: usize) -> Self {
        self.settings.max_poll_records = n;
        self
    }

    /// Most records in flight: handed out (or buffered) and not yet
    /// acknowledged. The consumer does not fetch while this many are.
    /// Default 1000.
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.settings.max_in_flight = n;
        self
    }

    /// Longest time the broker holds a fetch for `fetch_min_bytes`
    /// (`fetch.max.wait.ms`). Default 500 ms.
    pub fn fetch_max_wait(mut self, wait: Duration) -> Self {
        self.settings.fetch_max_wait = wait;
        self
    }

    /// Bytes the broker waits for (`fetch.min.bytes`). Default 1.
    pub fn fetch_min_bytes(mut self, bytes: i32) -> Self {
        self.settings.fetch_min_bytes = bytes;
        self
    }

    /// Most bytes in a fetch answer (`fetch.max.bytes`). Default 50 MiB.
    pub fn fetch_max_bytes(mut self, bytes: i32) -> Self {
        self.settings.fetch_max_bytes = bytes;
        self
    }

    /// `max.partition.fetch.bytes`: ShareFetch from version 1 has no
    /// per-partition limit, so this caps the whole answer when it is
    /// below `fetch_max_bytes` and one partition is fetched. Default 1 MiB.
    pub fn max_partition_fetch_bytes(mut self, bytes: i32) -> Self {
        self.settings.max_partition_fetch_bytes = bytes;
        self
    }

    /// The member's rack (`client.rack`).
    pub fn rack_id(mut self, rack: impl Into<String>) -> Self {
        self.settings.rack_id = Some(rack.into());
        self
    }

    /// Checks the settings, connects and joins the group.
    pub async fn build(self) -> Result<ShareConsumer> {
        self.settings.validate()?;
        if self.topics.is_empty() {
            return Err(Error::Config(
                "a share consumer needs topics (ShareConsumerBuilder::subscribe)".into(),
            ));
        }
        ShareConsumer::start(self).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_properties_are_read() {
        let b = ShareConsumerBuilder::from_properties([
            ("bootstrap.servers", "127.0.0.1:9092"),
            ("group.id", "g1"),
            ("client.id", "c1"),
            ("share.acknowledgement.mode", "implicit"),
            ("max.poll.records", "7"),
            ("fetch.max.wait.ms", "250"),
            ("fetch.min.bytes", "10"),
            ("fetch.max.bytes", "1000"),
            ("max.partition.fetch.bytes", "100"),
            (
                "value.deserializer",
                "org.apache.kafka.common.serialization.StringDeserializer",
            ),
        ])
        .unwrap();
        assert_eq!(&*b.settings.group_id, "g1");
        assert_eq!(b.client.client_id, "c1");
        assert_eq!(b.settings.mode, AcknowledgementMode::Implicit);
        assert_eq!(b.settings.max_poll_records, 7);
        assert_eq!(b.settings.fetch_max_wait, Duration::from_millis(250));
        assert_eq!(
            (b.settings.fetch_min_bytes, b.settings.fetch_max_bytes),
            (10, 1000)
        );
        b.settings.validate().unwrap();
    }

    #[test]
    fn bad_properties_are_refused() {
        let e = ShareConsumerBuilder::from_properties([
            ("bootstrap.servers", "127.0.0.1:9092"),
            ("share.acknowledgement.mode", "sometimes"),
        ])
        .unwrap_err();
        assert!(e.to_string().contains("share.acknowledgement.mode"), "{e}");
        let no_group = ShareConsumerBuilder::new("127.0.0.1:9092");
        assert!(no_group.settings.validate().is_err());
        let e = ShareConsumerBuilder::from_properties([
            ("bootstrap.servers", "127.0.0.1:9092"),
            ("no.such.property", "1"),
        ])
        .unwrap_err();
        assert!(e.to_string().contains("no.such.property"), "{e}");
    }

    #[test]
    fn debug_hides_the_password() {
        let b = ShareConsumerBuilder::from_properties([
            ("bootstrap.servers", "127.0.0.1:9092"),
            ("group.id", "g1"),
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism", "PLAIN"),
            ("sasl.username", "alice"),
            ("sasl.password", "s3cr3t-share-pw"),
        ])
        .unwrap();
        let shown = format!("{b:?}");
        assert!(shown.contains("g1"), "{shown}");
        assert!(!shown.contains("s3cr3t-share-pw"), "{shown}");
    }
}
