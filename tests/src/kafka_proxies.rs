//! One [`FaultProxy`] in front of each Kafka broker, and the address map
//! that sends a client's connection to each broker through its own proxy:
//! faults then apply whichever broker leads a partition, on a cluster of
//! any size.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::proxy::FaultProxy;

/// The proxies, in the order of the bootstrap list they were made from.
#[derive(Debug)]
pub struct KafkaProxies {
    /// (the broker's advertised port, its proxy)
    proxies: Vec<(u16, Arc<FaultProxy>)>,
}

impl KafkaProxies {
    /// A proxy in front of each broker of `bootstrap` (`host:port,...`,
    /// numeric addresses, as `scripts/brokers` prints them).
    pub async fn start(bootstrap: &str) -> io::Result<KafkaProxies> {
        let mut proxies = Vec::new();
        for addr in bootstrap.split(',') {
            let addr: SocketAddr = addr
                .trim()
                .parse()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{addr}: {e}")))?;
            proxies.push((addr.port(), Arc::new(FaultProxy::start(addr).await?)));
        }
        Ok(KafkaProxies { proxies })
    }

    /// The proxies' addresses, as a bootstrap list.
    pub fn bootstrap(&self) -> String {
        let addrs: Vec<String> = self
            .proxies
            .iter()
            .map(|(_, p)| p.addr().to_string())
            .collect();
        addrs.join(",")
    }

    /// The client's address map: a broker's advertised address to its proxy.
    pub fn map(&self) -> impl Fn(&str, u16) -> String + Clone + Send + Sync + 'static {
        let table: HashMap<u16, String> = self
            .proxies
            .iter()
            .map(|(port, p)| (*port, p.addr().to_string()))
            .collect();
        move |host, port| {
            table
                .get(&port)
                .cloned()
                .unwrap_or_else(|| format!("{host}:{port}"))
        }
    }

    /// The proxy in front of broker `node` (1-based, in bootstrap order,
    /// which is broker id order for `scripts/brokers`).
    pub fn of(&self, node: i32) -> &Arc<FaultProxy> {
        let at = usize::try_from(node - 1).unwrap_or(usize::MAX);
        &self
            .proxies
            .get(at)
            .expect("a broker of the bootstrap list")
            .1
    }

    /// Every proxy.
    pub fn all(&self) -> impl Iterator<Item = &Arc<FaultProxy>> {
        self.proxies.iter().map(|(_, p)| p)
    }

    /// Cuts every connection through every proxy.
    pub fn cut_all(&self) {
        self.all().for_each(|p| p.cut_all());
    }

    /// Stalls (or resumes) every proxy.
    pub fn stall(&self, on: bool) {
        self.all().for_each(|p| p.stall(on));
    }

    /// Delays every chunk through every proxy.
    pub fn set_latency(&self, latency: Duration) {
        self.all().for_each(|p| p.set_latency(latency));
    }

    /// Connections accepted, over every proxy.
    pub fn accepted(&self) -> u64 {
        self.all().map(|p| p.accepted()).sum()
    }
}
