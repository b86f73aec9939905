//! `mq produce amqp://...`: one message per stdin line, published with
//! confirms (unless `--no-confirms`), every confirm awaited.
//!
//! A nacked, returned (with `--mandatory`) or lost message does not stop
//! the rest; at the end one line counts them and the exit status is
//! [`Failure::NotConfirmed`]. A channel error (an exchange that does not
//! exist, say) stops publishing at once: nothing after it can succeed.

use std::collections::VecDeque;

use mq_client::amqp::{
    BasicProperties, Channel, Confirm, Connection, Error, FieldTable, PublishOptions, ReplyCode,
};

use super::{connect, exchange_name, failure, server_text};
use crate::cli::ProduceArgs;
use crate::error::{CliError, Failure};
use crate::input::Lines;
use crate::runtime::block_on;

/// Publishes awaiting their confirm at most.
const WINDOW: usize = 1000;

/// Runs `mq produce` against the broker at `url`.
pub(crate) fn run(a: &ProduceArgs, url: &str) -> Result<(), CliError> {
    let props = properties(a)?;
    block_on(async {
        let conn = connect(url, "mq produce").await?;
        let result = publish_stdin(&conn, a, props).await;
        // The publishes are settled (or failed); close gracefully either way.
        let closed = conn.close().await;
        match (result, closed) {
            (Err(e), _) => Err(e),
            (Ok(()), Err(e)) => Err(failure(&e, "close the connection")),
            (Ok(()), Ok(())) => Ok(()),
        }
    })
}

/// The properties every message gets: `--persistent`, `--header`s.
fn properties(a: &ProduceArgs) -> Result<BasicProperties, CliError> {
    let mut props = BasicProperties::default();
    if a.persistent {
        props = props.persistent();
    }
    if !a.headers.is_empty() {
        let mut table = FieldTable::builder();
        for (k, v) in &a.headers {
            table.try_insert(k, v.as_str()).map_err(|_| {
                CliError::usage(format!(
                    "--header {k}=...: a header name is at most 255 bytes"
                ))
            })?;
        }
        props = props.with_headers(table.build());
    }
    Ok(props)
}

/// Settled publishes, by outcome.
#[derive(Debug, Default)]
struct Tally {
    confirmed: u64,
    nacked: u64,
    returned: u64,
    lost: u64,
    /// Why the first returned message came back.
    return_reason: Option<String>,
}

impl Tally {
    /// Counts one outcome; an error that is not about this message alone
    /// (a closed channel or connection) ends the command.
    fn settle(&mut self, outcome: Result<(), Error>, doing: &str) -> Result<(), CliError> {
        match outcome {
            Ok(()) => self.confirmed += 1,
            Err(Error::Nacked) => self.nacked += 1,
            Err(Error::Returned { code, text, .. }) => {
                self.returned += 1;
                if self.return_reason.is_none() {
                    self.return_reason = Some(reason(code, &text));
                }
            }
            Err(Error::ConfirmLost) => self.lost += 1,
            Err(e) => return Err(failure(&e, doing)),
        }
        Ok(())
    }

    fn failed(&self) -> u64 {
        self.nacked + self.returned + self.lost
    }

    /// The failure line, if any message failed.
    fn verdict(&self, total: u64) -> Result<(), CliError> {
        if self.failed() == 0 {
            return Ok(());
        }
        let mut parts = Vec::new();
        if self.returned > 0 {
            let why = self.return_reason.as_deref().unwrap_or("unroutable");
            parts.push(format!("{} returned ({why})", self.returned));
        }
        if self.nacked > 0 {
            parts.push(format!("{} nacked by the broker", self.nacked));
        }
        if self.lost > 0 {
            parts.push(format!("{} lost with the connection", self.lost));
        }
        Err(CliError::new(
            Failure::NotConfirmed,
            format!(
                "{} of {total} messages were not confirmed: {}",
                self.failed(),
                parts.join(", ")
            ),
        ))
    }
}

fn reason(code: ReplyCode, text: &str) -> String {
    let text = server_text(text);
    match code.name() {
        Some(name) if text == name.replace('-', "_") => format!("{code}"),
        _ => format!("{text}, {code}"),
    }
}

async fn publish_stdin(
    conn: &Connection,
    a: &ProduceArgs,
    props: BasicProperties,
) -> Result<(), CliError> {
    let exchange = a.exchange.as_deref().unwrap_or("");
    let routing_key = a.routing_key.as_deref().unwrap_or("");
    let doing = format!(
        "publish to {} with routing key '{routing_key}'",
        exchange_name(exchange)
    );
    let ch = conn
        .open_channel()
        .await
        .map_err(|e| failure(&e, "open a channel"))?;
    let confirms = !a.no_confirms;
    if confirms {
        ch.confirm_select()
            .await
            .map_err(|e| failure(&e, "turn on publisher confirms"))?;
    }
    let options = PublishOptions {
        mandatory: a.mandatory,
        ..PublishOptions::default()
    };
    let mut lines = Lines::new(tokio::io::stdin());
    let mut pending: VecDeque<Confirm> = VecDeque::new();
    let mut tally = Tally::default();
    loop {
        // While stdin is quiet (a terminal, a slow pipe), confirms are
        // settled as they come, so a failure shows at once. Both branches
        // are safe to cancel: `Lines` keeps its state between calls.
        let body = tokio::select! {
            biased;
            Some(outcome) = oldest(&mut pending) => {
                pending.pop_front();
                tally
                    .settle(outcome, &doing)
                    .map_err(|e| unsettled(e, &tally, pending.len()))?;
                continue;
            }
            line = lines.next() => match line? {
                Some(body) => body,
                None => break,
            },
        };
        let confirm = ch
            .publish_with(exchange, routing_key, body, props.clone(), options)
            .await
            .map_err(|e| unsettled(failure(&e, &doing), &tally, pending.len()))?;
        pending.push_back(confirm);
        if pending.len() >= WINDOW {
            if let Some(c) = pending.pop_front() {
                tally
                    .settle(c.await, &doing)
                    .map_err(|e| unsettled(e, &tally, pending.len()))?;
            }
        }
    }
    while let Some(c) = pending.pop_front() {
        tally
            .settle(c.await, &doing)
            .map_err(|e| unsettled(e, &tally, pending.len()))?;
    }
    if !confirms {
        check_channel(&ch, &doing).await?;
    }
    tally.verdict(lines.count())
}

/// The outcome of the oldest awaited confirm (left in place), or `None`
/// at once if none is awaited.
async fn oldest(pending: &mut VecDeque<Confirm>) -> Option<Result<(), Error>> {
    match pending.front_mut() {
        Some(confirm) => Some(confirm.await),
        None => None,
    }
}

/// A failure that ends publishing, with the count of the other published
/// messages that are not confirmed (failed, or their confirm still awaited).
fn unsettled(e: CliError, tally: &Tally, waiting: usize) -> CliError {
    let n = tally.failed() + waiting as u64;
    match n {
        0 => e,
        1 => CliError::new(
            e.kind(),
            format!("{e} (1 other published message was not confirmed)"),
        ),
        n => CliError::new(
            e.kind(),
            format!("{e} ({n} other published messages were not confirmed)"),
        ),
    }
}

/// Without confirms, a channel error (such as a missing exchange) shows
/// only as the channel's close. A round trip after the publishes (a
/// basic.qos that changes nothing: no consumer is on this channel) is
/// answered after the broker has handled every publish before it, so such
/// an error surfaces here.
async fn check_channel(ch: &Channel, doing: &str) -> Result<(), CliError> {
    if let Err(e) = ch.basic_qos(0, false).await {
        return Err(failure(&e, doing));
    }
    ch.close().await.map_err(|e| failure(&e, doing))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verdict_counts_each_kind_of_failure() {
        let mut t = Tally::default();
        t.settle(Ok(()), "publish").unwrap();
        t.settle(Err(Error::Nacked), "publish").unwrap();
        t.settle(Err(Error::ConfirmLost), "publish").unwrap();
        assert_eq!(t.confirmed, 1);
        let e = t.verdict(3).unwrap_err();
        assert_eq!(e.kind(), Failure::NotConfirmed);
        assert_eq!(
            e.to_string(),
            "2 of 3 messages were not confirmed: 1 nacked by the broker, 1 lost with the connection"
        );
        let fatal = t.settle(
            Err(Error::ChannelClosed {
                code: ReplyCode::NOT_FOUND,
                text: "NOT_FOUND - no exchange 'x' in vhost '/'".into(),
            }),
            "publish",
        );
        let fatal = fatal.unwrap_err();
        assert_eq!(fatal.kind(), Failure::NotFound);
        let e = unsettled(fatal, &t, 3);
        assert_eq!(e.kind(), Failure::NotFound);
        assert!(
            e.to_string()
                .ends_with("(404 NOT-FOUND) (5 other published messages were not confirmed)"),
            "{e}"
        );
        assert!(Tally::default().verdict(5).is_ok());
        assert_eq!(reason(ReplyCode::NO_ROUTE, "NO_ROUTE"), "312 NO-ROUTE");
        assert_eq!(reason(ReplyCode(999), "odd"), "odd, 999");
    }
}
