//! The connection handle.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

use super::batch_queue::lock;
use super::channel::Channel;
use super::command::{Control, State};
use super::command_queue::CommandQueue;
use super::config::{Config, ConnectionBuilder};
use super::driver::{Driver, io};
use super::error::{Error, Result};
use super::events::ConnectionEvents;
use super::handles::Handles;
use super::metrics::{ConnectionMetrics, Stats};
use super::publish_queue::PublishQueue;
use super::uri::Secret;

/// A connection to RabbitMQ: a handle to the driver task that owns the
/// socket. Cheap to clone; the connection closes gracefully when it and
/// every channel made from it are dropped, or when [`close`](Self::close)
/// is called.
#[derive(Clone)]
pub struct Connection {
    handles: Arc<Handles>,
    config: Arc<Config>,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("name", &self.handles.state.label)
            // AmqpUri's Debug shows the password as ***.
            .field("uris", &self.config.uris)
            .field("connected", &self.is_connected())
            .finish()
    }
}

impl Connection {
    /// Connects to one URI
    /// (`amqp://user:pass@host:port/vhost?heartbeat=..&frame_max=..&channel_max=..&connection_timeout=..`)
    /// with default settings: recovery on, 30 s operation timeout.
    pub async fn connect(uri: &str) -> Result<Connection> {
        ConnectionBuilder::default().uri(uri).connect().await
    }

    /// Connects to the first URI of a list that answers; recovery tries
    /// them in turn.
    pub async fn connect_any<I, S>(uris: I) -> Result<Connection>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ConnectionBuilder::default().uris(uris).connect().await
    }

    /// A builder for every setting.
    pub fn builder() -> ConnectionBuilder {
        ConnectionBuilder::default()
    }

    pub(crate) async fn connect_with(config: Config) -> Result<Connection> {
        let config = Arc::new(config);
        let label = config.label();
        let mut last = Error::Usage("no broker URI given");
        let stats = Arc::new(Stats::default());
        for (i, uri) in config.uris.iter().enumerate() {
            match io::connect(&config, i, None, &stats).await {
                Ok(io) => {
                    tracing::info!(connection = %label, addr = %io.addr, "connected");
                    return Ok(Self::spawn(config.clone(), io, stats));
                }
                Err(e) => {
                    tracing::warn!(connection = %label, %uri, error = %e, "connect failed");
                    last = e;
                }
            }
        }
        Err(last)
    }

    fn spawn(config: Arc<Config>, io: io::Io, stats: Arc<Stats>) -> Connection {
        let state = Arc::new(State::new(config.label(), stats));
        let commands = Arc::new(CommandQueue::new(config.command_queue));
        let publish_queue = Arc::new(PublishQueue::new(config.publish_queue));
        let handles = Arc::new(Handles {
            commands: commands.clone(),
            publish_queue: publish_queue.clone(),
            state: state.clone(),
            operation_timeout: config.operation_timeout,
            close_timeout: config.close_timeout,
            confirm_timeout: config.confirm_timeout,
        });
        let span = tracing::info_span!(parent: None, "amqp_connection", connection = %state.label);
        let driver = Driver::new(config.clone(), state, commands, publish_queue, io);
        tokio::spawn(driver.run().instrument(span));
        Connection { handles, config }
    }

    /// Opens a channel.
    pub async fn open_channel(&self) -> Result<Channel> {
        let (tx, rx) = oneshot::channel();
        let shared = self
            .handles
            .call("channel.open", Control::OpenChannel { reply: tx }, rx)
            .await?;
        Ok(Channel::new(self.handles.clone(), shared))
    }

    /// Closes gracefully: waits up to the close timeout for outstanding
    /// confirms, closes every channel, then the connection. Consumers'
    /// streams end; later calls fail with [`Error::ConnectionClosed`].
    pub async fn close(&self) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        if self
            .handles
            .commands
            .push(Control::Close { reply: tx })
            .await
            .is_err()
        {
            return Ok(());
        }
        // Confirms and channels share one close timeout, the connection
        // handshake has its own.
        let limit = self.handles.close_timeout * 2 + std::time::Duration::from_secs(1);
        match tokio::time::timeout(limit, rx).await {
            Ok(_) => Ok(()),
            Err(_) => Err(Error::Timeout {
                operation: "connection.close",
                after: limit,
            }),
        }
    }

    /// Replaces the connection's secret (connection.update-secret), such
    /// as an OAuth 2 access token about to expire, without reconnecting.
    /// Once the broker accepts it, recovery logs in with it too. A secret
    /// the broker refuses closes the connection: this then fails with
    /// [`Error::ConnectionClosed`] and the broker's reply code (and
    /// recovery, if on, reconnects with the last accepted secret). The
    /// secret never appears in logs or errors.
    pub async fn update_secret(&self, new_secret: &str, reason: &str) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        let cmd = Control::UpdateSecret {
            secret: Secret::new(new_secret),
            reason: reason.to_owned(),
            reply: tx,
        };
        self.handles
            .call("connection.update-secret", cmd, rx)
            .await
            .map(drop)
    }

    /// A stream of connection events: losses, recovery steps, blocking.
    pub fn events(&self) -> ConnectionEvents {
        let (tx, rx) = mpsc::channel(256);
        lock(&self.handles.state.subscribers).push(tx);
        ConnectionEvents { rx }
    }

    /// Whether the broker blocks publishing now (connection.blocked).
    pub fn is_blocked(&self) -> bool {
        self.handles.state.blocked_reason().is_some()
    }

    /// Whether the connection is up (not recovering, not closed).
    pub fn is_connected(&self) -> bool {
        self.handles.state.connected.load(Ordering::Acquire)
    }

    /// Whether the connection is closed for good.
    pub fn is_closed(&self) -> bool {
        self.handles.state.closed.get().is_some()
    }

    /// A snapshot of the connection's metrics: bytes, publishes, confirms,
    /// deliveries, recoveries, channels. See [`ConnectionMetrics`].
    pub fn metrics(&self) -> ConnectionMetrics {
        self.handles.state.stats.snapshot(&self.handles.state.label)
    }

    /// The connection name.
    pub fn name(&self) -> &str {
        &self.handles.state.label
    }
}

impl ConnectionBuilder {
    /// Connects, trying each URI in turn once.
    pub async fn connect(self) -> Result<Connection> {
        Connection::connect_with(self.build()?).await
    }
}
