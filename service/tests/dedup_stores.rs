//! Idempotent consumption against real stores (in memory, redb, Redis,
//! PostgreSQL) and the real RabbitMQ broker: duplicates absorbed,
//! competing consumers, a crashed claim taken over after its lease, a
//! store that fails, a key too long. Redis and PostgreSQL come from
//! `scripts/stores up` (`REDIS_URL`, `POSTGRES_URL`).

mod support;

use std::sync::Arc;

use mq_service::dedup::MemoryStore;
use support::dedup::{self, Store};

fn memory() -> Store {
    Arc::new(MemoryStore::new(10_000))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_duplicates_absorbed_in_both_modes() {
    dedup::duplicates_absorbed(memory(), false).await;
    dedup::duplicates_absorbed(memory(), true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_competing_consumers() {
    dedup::competing_consumers(memory()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_aborted_claim_taken_over() {
    dedup::aborted_claim_taken_over(memory()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_key_too_long() {
    dedup::key_too_long(Arc::new(MemoryStore::new(10).max_key_len(1024))).await;
}

#[cfg(feature = "redb")]
mod embedded {
    use std::sync::Arc;

    use mq_service::dedup::EmbeddedStore;

    use super::dedup::{self, Store};

    fn store() -> Store {
        let path =
            std::env::temp_dir().join(format!("{}.redb", mq_tests::names::unique("mq-dedup")));
        Arc::new(EmbeddedStore::open(path).expect("open"))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn embedded_duplicates_absorbed() {
        dedup::duplicates_absorbed(store(), true).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn embedded_competing_consumers() {
        dedup::competing_consumers(store()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn embedded_aborted_claim_taken_over() {
        dedup::aborted_claim_taken_over(store()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn embedded_key_too_long() {
        dedup::key_too_long(store()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn embedded_keeps_keys_across_a_restart_and_ttl_frees_them() {
        dedup::embedded_restart_and_ttl().await;
    }
}

/// `host:port` of a URL, and the URL with another `host:port`.
#[cfg(any(feature = "redis", feature = "postgres"))]
fn authority(url: &str) -> (String, impl Fn(std::net::SocketAddr) -> String + '_) {
    let start = url
        .find('@')
        .map_or_else(|| url.find("//").map_or(0, |i| i + 2), |i| i + 1);
    let end = url[start..].find('/').map_or(url.len(), |i| start + i);
    let host = url[start..end].to_owned();
    (host, move |addr| {
        format!("{}{addr}{}", &url[..start], &url[end..])
    })
}

#[cfg(feature = "redis")]
mod redis {
    use std::net::SocketAddr;
    use std::sync::Arc;

    use mq_service::dedup::RedisStore;
    use mq_tests::proxy::FaultProxy;

    use super::dedup::{self, Fault, Store};

    fn url() -> String {
        std::env::var("REDIS_URL")
            .unwrap_or_else(|_| "redis://:mq-secret@127.0.0.1:16379/0".to_owned())
    }

    async fn store() -> Store {
        Arc::new(RedisStore::connect(&url()).await.expect("connect to Redis"))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis_duplicates_absorbed() {
        dedup::duplicates_absorbed(store().await, true).await;
        dedup::duplicates_absorbed(store().await, false).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis_competing_consumers() {
        dedup::competing_consumers(store().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis_aborted_claim_taken_over() {
        dedup::aborted_claim_taken_over(store().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis_key_too_long() {
        dedup::key_too_long(store().await).await;
    }

    async fn behind_proxy() -> (Store, FaultProxy) {
        let url = url();
        let (host, with) = super::authority(&url);
        let upstream: SocketAddr = host.parse().expect("an IP address in REDIS_URL");
        let proxy = FaultProxy::start(upstream).await.expect("proxy");
        let store = RedisStore::connect(&with(proxy.addr()))
            .await
            .expect("connect through the proxy");
        (Arc::new(store), proxy)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis_stalled_slow_or_down_is_retriable_never_acked_as_processed() {
        for fault in [Fault::Stalled, Fault::Slow, Fault::Down] {
            let (store, proxy) = behind_proxy().await;
            dedup::store_fault(store, &proxy, fault).await;
        }
    }

    #[tokio::test]
    async fn redis_secrets_stay_out_of_debug() {
        let s = RedisStore::connect(&url()).await.expect("connect");
        let debug = format!("{s:?}");
        assert!(!debug.contains("mq-secret"), "{debug}");
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use std::net::SocketAddr;
    use std::sync::Arc;

    use mq_service::dedup::PostgresStore;
    use mq_tests::proxy::FaultProxy;

    use super::dedup::{self, Fault, Store};

    fn url() -> String {
        std::env::var("POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://mq:mq-secret@127.0.0.1:15432/mq".to_owned())
    }

    async fn store() -> Store {
        Arc::new(
            PostgresStore::connect(&url())
                .await
                .expect("connect to PostgreSQL"),
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_duplicates_absorbed() {
        dedup::duplicates_absorbed(store().await, true).await;
        dedup::duplicates_absorbed(store().await, false).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_competing_consumers() {
        dedup::competing_consumers(store().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_aborted_claim_taken_over() {
        dedup::aborted_claim_taken_over(store().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_key_too_long() {
        dedup::key_too_long(store().await).await;
    }

    async fn behind_proxy() -> (Store, FaultProxy) {
        let url = url();
        let (host, with) = super::authority(&url);
        let upstream: SocketAddr = host.parse().expect("an IP address in POSTGRES_URL");
        let proxy = FaultProxy::start(upstream).await.expect("proxy");
        let store = PostgresStore::connect(&with(proxy.addr()))
            .await
            .expect("connect through the proxy");
        (Arc::new(store), proxy)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_stalled_slow_or_down_is_retriable_never_acked_as_processed() {
        for fault in [Fault::Stalled, Fault::Slow, Fault::Down] {
            let (store, proxy) = behind_proxy().await;
            dedup::store_fault(store, &proxy, fault).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_inbox_exactly_one_effect_under_50_random_aborts() {
        crate::support::inbox::inbox_exactly_once_under_aborts(&url(), 50).await;
    }

    #[tokio::test]
    async fn postgres_secrets_stay_out_of_debug_and_errors() {
        let s = PostgresStore::connect(&url()).await.expect("connect");
        let debug = format!("{s:?}");
        assert!(!debug.contains("mq-secret"), "{debug}");
        let wrong = url().replace("mq-secret", "wrong-secret");
        let e = PostgresStore::connect(&wrong)
            .await
            .expect_err("a wrong password");
        assert!(!e.to_string().contains("wrong-secret"), "{e}");
    }
}
