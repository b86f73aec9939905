//! `mq bench amqp://...`: publish with a confirm window and consume with a
//! prefetch at the same time, through one queue, on two connections.
//!
//! Without `--queue` the queue is a server-named, exclusive one that goes
//! away with the consuming connection. A queue named with `--queue` must
//! exist and be empty (the bench would otherwise consume what is in it).
//! Messages go through the default exchange, mandatory, not persistent.
//! The harness ([`crate::bench`]) stamps them, draws progress and sums up.

use std::collections::VecDeque;

use futures_util::{FutureExt, StreamExt};
use mq_client::amqp::{
    BasicProperties, Channel, Confirm, Connection, ConsumeOptions, Consumer, Error, PublishOptions,
    QueueOptions,
};
use tokio::sync::watch;

use super::{connect, failure};
use crate::bench::{Bench, Expected, Next, Phase, Receiver, Report, Settings};
use crate::cli::BenchArgs;
use crate::error::{CliError, Failure};
use crate::output::Output;
use crate::runtime::block_on_threads;

/// Runs `mq bench` against the broker at `url` (`shown` is the URL with
/// the password hidden).
pub(crate) fn run(a: &BenchArgs, url: &str, shown: &str, out: &mut Output) -> Result<(), CliError> {
    let report = block_on_threads(bench(a, url, shown))?;
    report.print(a.json, out)
}

/// The prefetch: `--prefetch`, else the window (at most 65535).
fn prefetch(a: &BenchArgs) -> u16 {
    a.prefetch
        .unwrap_or_else(|| u16::try_from(a.window).unwrap_or(u16::MAX))
}

async fn bench(a: &BenchArgs, url: &str, shown: &str) -> Result<Report, CliError> {
    let consuming = connect(url, "mq bench consume").await?;
    let publishing = connect(url, "mq bench publish").await?;
    let result = run_on(a, shown, &consuming, &publishing).await;
    for conn in [&publishing, &consuming] {
        if let Err(e) = conn.close().await {
            if result.is_ok() {
                return Err(failure(&e, "close the connection"));
            }
        }
    }
    result
}

async fn run_on(
    a: &BenchArgs,
    shown: &str,
    consuming: &Connection,
    publishing: &Connection,
) -> Result<Report, CliError> {
    let cch = consuming
        .open_channel()
        .await
        .map_err(|e| failure(&e, "open a channel"))?;
    let queue = queue(&cch, a.queue.as_deref()).await?;
    let prefetch = prefetch(a);
    let doing = format!("consume from queue '{queue}'");
    let consumer = cch
        .consume(&queue, ConsumeOptions::default().prefetch(prefetch))
        .await
        .map_err(|e| failure(&e, &doing))?;
    let pch = publishing
        .open_channel()
        .await
        .map_err(|e| failure(&e, "open a channel"))?;
    pch.confirm_select()
        .await
        .map_err(|e| failure(&e, "turn on publisher confirms"))?;

    let bench = Bench::start(Settings {
        protocol: "amqp",
        url: shown.to_owned(),
        destination: format!("queue {queue}"),
        size: a.size as usize,
        count: a.count,
        window: a.window,
        extra: vec![("prefetch", prefetch.to_string())],
    });
    let (done_tx, done_rx) = watch::channel(None);
    let consume = tokio::spawn(consume_loop(
        consumer,
        bench.receiver(),
        a.count,
        done_rx,
        doing,
    ));
    let published = publish_loop(&pch, &bench, &queue, a.window as usize).await;
    let _ = done_tx.send(Some(published.as_ref().map_or(0, |p| p.messages)));
    let publish = match published {
        Ok(p) => p,
        Err(e) => {
            consume.abort();
            return Err(e);
        }
    };
    let receiver = consume
        .await
        .map_err(|_| CliError::new(Failure::Refused, "the consuming task failed"))??;
    Ok(bench.finish(publish, receiver))
}

/// The queue to use: `named`, checked to exist and be empty, or a new
/// server-named exclusive queue.
async fn queue(ch: &Channel, named: Option<&str>) -> Result<String, CliError> {
    match named {
        Some(name) => {
            let q = ch
                .queue_declare(name, QueueOptions::passive())
                .await
                .map_err(|e| failure(&e, &format!("use queue '{name}'")))?;
            if q.message_count > 0 {
                let n = q.message_count;
                return Err(CliError::usage(format!(
                    "queue '{name}' holds {n} message{}; mq bench needs an empty queue \
                     (it consumes everything in it)",
                    if n == 1 { "" } else { "s" }
                )));
            }
            Ok(name.to_owned())
        }
        None => Ok(ch
            .queue_declare("", QueueOptions::default().exclusive().auto_delete())
            .await
            .map_err(|e| failure(&e, "declare a temporary queue"))?
            .name()
            .to_owned()),
    }
}

/// Publishes `count` stamped messages with at most `window` unconfirmed.
async fn publish_loop(
    ch: &Channel,
    bench: &Bench,
    queue: &str,
    window: usize,
) -> Result<Phase, CliError> {
    let doing = format!("publish to queue '{queue}'");
    let progress = bench.progress();
    let size = bench.settings().size as u64;
    let mut pending: VecDeque<Confirm> = VecDeque::with_capacity(window);
    let (mut confirmed, mut failed) = (0u64, 0u64);
    let mut settle = |outcome: Result<(), Error>| {
        match outcome {
            Ok(()) => confirmed += 1,
            Err(Error::Nacked | Error::Returned { .. } | Error::ConfirmLost) => failed += 1,
            Err(e) => return Err(failure(&e, &doing)),
        }
        progress.published(1);
        Ok(())
    };
    for _ in 0..bench.settings().count {
        let confirm = ch
            .publish_with(
                "",
                queue,
                bench.payload(),
                BasicProperties::default(),
                PublishOptions::mandatory(),
            )
            .await
            .map_err(|e| failure(&e, &format!("publish to queue '{queue}'")))?;
        pending.push_back(confirm);
        if pending.len() >= window {
            if let Some(c) = pending.pop_front() {
                settle(c.await)?;
            }
        }
    }
    while let Some(c) = pending.pop_front() {
        settle(c.await)?;
    }
    Ok(Phase {
        messages: confirmed,
        failed,
        bytes: confirmed * size,
        elapsed: bench.clock().elapsed(),
    })
}

/// Receives until every message arrived, or, once publishing is over
/// (`done` holds the number confirmed), until the confirmed ones arrived or
/// nothing came for [`IDLE`](crate::bench::expect::IDLE).
async fn consume_loop(
    mut consumer: Consumer,
    mut receiver: Receiver,
    count: u64,
    done: watch::Receiver<Option<u64>>,
    doing: String,
) -> Result<Receiver, CliError> {
    let mut expected = Expected::new(count, done);
    while receiver.received() < expected.count() {
        let next = match expected.next(consumer.next()).await {
            Next::Item(next) => next,
            Next::Recount => continue,
            Next::Idle => break,
        };
        let mut last = match next {
            Some(Ok(d)) => d,
            Some(Err(e)) => return Err(failure(&e, &doing)),
            None => return Err(stopped(&doing)),
        };
        receiver.record(last.body_ref());
        // Take what is already there, then ack it as one batch.
        let mut stop = None;
        while let Some(next) = consumer.next().now_or_never() {
            match next {
                Some(Ok(d)) => {
                    receiver.record(d.body_ref());
                    last = d;
                }
                Some(Err(e)) => {
                    stop = Some(failure(&e, &doing));
                    break;
                }
                None => {
                    stop = Some(stopped(&doing));
                    break;
                }
            }
        }
        last.ack_multiple().await.map_err(|e| failure(&e, &doing))?;
        if let Some(e) = stop {
            return Err(e);
        }
    }
    consumer.cancel().await.map_err(|e| failure(&e, &doing))?;
    Ok(receiver)
}

fn stopped(doing: &str) -> CliError {
    failure(
        &Error::ConnectionLost {
            reason: "the consumer stopped".to_owned(),
        },
        doing,
    )
}
