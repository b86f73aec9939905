//! `mq dead-letters list|replay amqp://... --queue Q`.
//!
//! Both take the queue's messages with `basic.get` (as many as the queue
//! held when `mq` started, or `--count`), holding them unacked, so none is
//! taken twice. `list` gives them all back; `replay` publishes the chosen
//! ones to their origin exchange with their origin routing key (mandatory,
//! confirmed), acks each once its copy is confirmed, and gives the others
//! back (nack with requeue).

use mq_client::amqp::{
    BasicProperties, Channel, Connection, Delivery, FieldTable, FieldValue, PublishOptions,
    QueueOptions,
};

use super::{connect, exchange_name, failure};
use crate::cli::{DeadLettersListArgs, DeadLettersReplayArgs};
use crate::dead_letters::{Letter, Origin, Selection, replayed_header, write_list};
use crate::error::{CliError, Failure};
use crate::output::Output;
use crate::runtime::block_on;

/// Runs `mq dead-letters list` against the broker at `url`.
pub(crate) fn list(a: &DeadLettersListArgs, url: &str, out: &mut Output) -> Result<(), CliError> {
    let queue = a.queue.as_deref().unwrap_or_default();
    let limit = a.count.unwrap_or(u64::MAX);
    with_connection(url, "mq dead-letters list", |conn| async move {
        let (ch, taken) = take_all(&conn, queue, limit).await?;
        let letters: Vec<Letter> = taken.iter().map(|(l, _)| l.clone()).collect();
        give_back(queue, taken.iter().map(|(_, d)| d)).await?;
        ch.close()
            .await
            .map_err(|e| failure(&e, "close the channel"))?;
        write_list(&letters, a.format, out)
    })
}

/// Runs `mq dead-letters replay` against the broker at `url`.
pub(crate) fn replay(
    a: &DeadLettersReplayArgs,
    url: &str,
    out: &mut Output,
) -> Result<(), CliError> {
    let queue = a.queue.as_deref().unwrap_or_default();
    let selection = Selection::of(a);
    with_connection(url, "mq dead-letters replay", |conn| async move {
        let (ch, taken) = take_all(&conn, queue, u64::MAX).await?;
        let (picked, others): (Vec<_>, Vec<_>) =
            taken.iter().partition(|(l, _)| selection.picks(l));
        let letters: Vec<&Letter> = picked.iter().map(|(l, _)| l).collect();
        if let Err(e) = selection.check(&letters, &format!("queue '{queue}'")) {
            give_back(queue, taken.iter().map(|(_, d)| d)).await?;
            return Err(e);
        }
        // The others go back at once; the chosen ones as they are replayed.
        give_back(queue, others.iter().map(|(_, d)| d)).await?;
        let publisher = conn
            .open_channel()
            .await
            .map_err(|e| failure(&e, "open a channel"))?;
        publisher
            .confirm_select()
            .await
            .map_err(|e| failure(&e, "turn on publisher confirms"))?;
        let mut sent = 0usize;
        for (i, (letter, d)) in picked.iter().enumerate() {
            let result = republish(&publisher, letter, d).await;
            if let Err(e) = result {
                let left: Vec<&Delivery> = picked[i..].iter().map(|(_, d)| d).collect();
                give_back(queue, left.into_iter()).await?;
                return Err(CliError::new(
                    e.kind(),
                    format!("{e} ({sent} of {} replayed before)", picked.len()),
                ));
            }
            d.ack().await.map_err(|e| {
                failure(
                    &e,
                    &format!(
                        "ack the replayed dead letter {} in queue '{queue}'",
                        letter.name()
                    ),
                )
            })?;
            sent += 1;
            if let Origin::Amqp {
                exchange,
                routing_key,
                ..
            } = &letter.origin
            {
                out.line(&format!(
                    "replayed {} to {} with routing key '{routing_key}'",
                    letter.name(),
                    exchange_name(exchange)
                ))?;
            }
        }
        publisher
            .close()
            .await
            .map_err(|e| failure(&e, "close the channel"))?;
        ch.close()
            .await
            .map_err(|e| failure(&e, "close the channel"))?;
        out.line(&format!("{sent} dead letters replayed"))
    })
}

/// Connects as `name`, runs `f`, and closes the connection (unless it was
/// lost).
fn with_connection<F, Fut>(url: &str, name: &str, f: F) -> Result<(), CliError>
where
    F: FnOnce(Connection) -> Fut,
    Fut: Future<Output = Result<(), CliError>>,
{
    block_on(async {
        let conn = connect(url, name).await?;
        let result = f(conn.clone()).await;
        if matches!(&result, Err(e) if e.kind() == Failure::Unreachable) {
            return result;
        }
        let closed = conn.close().await;
        match (result, closed) {
            (Err(e), _) => Err(e),
            (Ok(()), Err(e)) => Err(failure(&e, "close the connection")),
            (Ok(()), Ok(())) => Ok(()),
        }
    })
}

/// Takes the queue's messages with `basic.get`, unacked: at most as many
/// as it held at the start, and `limit`.
async fn take_all(
    conn: &Connection,
    queue: &str,
    limit: u64,
) -> Result<(Channel, Vec<(Letter, Delivery)>), CliError> {
    let doing = format!("read the dead letters of queue '{queue}'");
    let ch = conn
        .open_channel()
        .await
        .map_err(|e| failure(&e, "open a channel"))?;
    let held = ch
        .queue_declare(queue, QueueOptions::passive())
        .await
        .map_err(|e| failure(&e, &doing))?
        .message_count;
    let mut taken = Vec::new();
    while (taken.len() as u64) < limit.min(u64::from(held)) {
        let Some(d) = ch
            .basic_get(queue, false)
            .await
            .map_err(|e| failure(&e, &doing))?
        else {
            break;
        };
        let position = (taken.len() + 1).to_string();
        taken.push((letter(position, &d), d));
    }
    Ok((ch, taken))
}

/// Gives messages back to the queue (nack with requeue).
async fn give_back<'a>(
    queue: &str,
    deliveries: impl Iterator<Item = &'a Delivery>,
) -> Result<(), CliError> {
    for d in deliveries {
        d.nack(true)
            .await
            .map_err(|e| failure(&e, &format!("give a message back to queue '{queue}'")))?;
    }
    Ok(())
}

/// Publishes a copy of the dead letter `d` to its origin, without the
/// failure headers, and waits for the confirm.
async fn republish(ch: &Channel, letter: &Letter, d: &Delivery) -> Result<(), CliError> {
    let Origin::Amqp {
        exchange,
        routing_key,
        ..
    } = &letter.origin
    else {
        return Err(CliError::new(
            Failure::NotFound,
            format!(
                "cannot replay the dead letter {} to RabbitMQ: its origin is a Kafka topic",
                letter.name()
            ),
        ));
    };
    let doing = format!(
        "replay the dead letter {} to {}",
        letter.name(),
        exchange_name(exchange)
    );
    let props = d.properties();
    let mut table = FieldTable::builder();
    if let Some(h) = &props.headers {
        for (k, v) in h.iter() {
            if replayed_header(&k.to_string_lossy()) {
                table.push(&k, v);
            }
        }
    }
    let properties = BasicProperties {
        headers: Some(table.build()),
        ..props
    };
    ch.publish_with(
        exchange,
        routing_key,
        d.body(),
        properties,
        PublishOptions::mandatory(),
    )
    .await
    .map_err(|e| failure(&e, &doing))?
    .await
    .map_err(|e| failure(&e, &doing))
}

/// What a delivery's headers say.
fn letter(position: String, d: &Delivery) -> Letter {
    let props = d.properties();
    let message_id = props
        .message_id
        .as_ref()
        .map(|m| m.to_string_lossy().into_owned());
    let headers = props.headers.clone().unwrap_or_default();
    Letter::from_headers(position, message_id, |name| {
        headers.get(name).and_then(|v| text(&v))
    })
}

/// A header value as text: strings and byte arrays as they are, numbers
/// as digits, void as none.
fn text(v: &FieldValue) -> Option<String> {
    Some(match v {
        FieldValue::LongStr(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        FieldValue::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        FieldValue::Void => return None,
        other => other
            .as_i64()
            .map_or_else(|| format!("{other:?}"), |i| i.to_string()),
    })
}
