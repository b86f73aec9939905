//! `mq declare amqp://...`: declares an exchange, or a queue and binds it.
//!
//! `--argument K=V` values are typed as RabbitMQ expects them: a whole
//! number is a signed 64-bit integer (`x-max-length=1000`,
//! `x-message-ttl=60000`), `true` and `false` are booleans, anything else
//! is a string (`x-queue-type=quorum`, `x-dead-letter-exchange=dlx`). A
//! value in double quotes is always a string, quotes removed.
//!
//! Each step prints one line on stdout, so a server-named queue
//! (`--queue ''`) shows its name.

use mq_client::amqp::{
    Channel, ExchangeKind, ExchangeOptions, FieldTable, FieldValue, QueueOptions,
};

use super::{connect, failure};
use crate::cli::{self, DeclareArgs};
use crate::error::CliError;
use crate::output::Output;
use crate::runtime::block_on;

/// Runs `mq declare` against the broker at `url`.
pub(crate) fn run(a: &DeclareArgs, url: &str, out: &mut Output) -> Result<(), CliError> {
    let arguments = arguments(&a.arguments)?;
    block_on(async {
        let conn = connect(url, "mq declare").await?;
        let ch = conn
            .open_channel()
            .await
            .map_err(|e| failure(&e, "open a channel"))?;
        let result = declare(&ch, a, arguments, out).await;
        let closed = conn.close().await;
        match (result, closed) {
            (Err(e), _) => Err(e),
            (Ok(()), Err(e)) => Err(failure(&e, "close the connection")),
            (Ok(()), Ok(())) => Ok(()),
        }
    })
}

async fn declare(
    ch: &Channel,
    a: &DeclareArgs,
    arguments: FieldTable,
    out: &mut Output,
) -> Result<(), CliError> {
    if let Some(name) = &a.exchange {
        let kind = exchange_kind(a.kind);
        let options = ExchangeOptions {
            durable: a.durable,
            auto_delete: a.auto_delete,
            arguments: arguments.clone(),
            ..ExchangeOptions::default()
        };
        ch.exchange_declare(name, kind.clone(), options)
            .await
            .map_err(|e| failure(&e, &format!("declare exchange '{name}'")))?;
        out.line(&format!(
            "exchange '{name}' declared: {}{}{}",
            kind.as_str(),
            if a.durable { ", durable" } else { "" },
            if a.auto_delete { ", auto-delete" } else { "" },
        ))?;
    }
    if let Some(name) = &a.queue {
        let options = QueueOptions {
            durable: a.durable,
            exclusive: a.exclusive,
            auto_delete: a.auto_delete,
            arguments,
            ..QueueOptions::default()
        };
        let q = ch
            .queue_declare(name, options)
            .await
            .map_err(|e| failure(&e, &format!("declare queue '{name}'")))?;
        let name = q.name();
        out.line(&format!(
            "queue '{name}' declared: {} messages, {} consumers",
            q.message_count, q.consumer_count
        ))?;
        if let Some(exchange) = &a.bind {
            let key = a.routing_key.as_deref().unwrap_or("");
            ch.queue_bind(name, exchange, key, FieldTable::new())
                .await
                .map_err(|e| {
                    failure(&e, &format!("bind queue '{name}' to exchange '{exchange}'"))
                })?;
            out.line(&format!(
                "queue '{name}' bound to exchange '{exchange}' with routing key '{key}'"
            ))?;
        }
    }
    Ok(())
}

fn exchange_kind(k: cli::ExchangeKind) -> ExchangeKind {
    match k {
        cli::ExchangeKind::Direct => ExchangeKind::Direct,
        cli::ExchangeKind::Fanout => ExchangeKind::Fanout,
        cli::ExchangeKind::Topic => ExchangeKind::Topic,
        cli::ExchangeKind::Headers => ExchangeKind::Headers,
    }
}

/// The `--argument`s as a field table, values typed (see the module docs).
fn arguments(pairs: &[(String, String)]) -> Result<FieldTable, CliError> {
    let mut table = FieldTable::builder();
    for (k, v) in pairs {
        table.try_insert(k, typed(v)).map_err(|_| {
            CliError::usage(format!(
                "--argument {k}=...: an argument name is at most 255 bytes"
            ))
        })?;
    }
    Ok(table.build())
}

fn typed(v: &str) -> FieldValue {
    if let Some(s) = v.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        return FieldValue::from(s);
    }
    match v {
        "true" => FieldValue::Bool(true),
        "false" => FieldValue::Bool(false),
        _ => match v.parse::<i64>() {
            Ok(n) => FieldValue::I64(n),
            Err(_) => FieldValue::from(v),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_typed() {
        let t = arguments(&[
            ("x-max-length".into(), "1000".into()),
            ("x-queue-type".into(), "quorum".into()),
            ("x-single-active-consumer".into(), "true".into()),
            ("x-label".into(), "\"42\"".into()),
            ("x-neg".into(), "-5".into()),
        ])
        .unwrap();
        assert_eq!(t.get("x-max-length"), Some(FieldValue::I64(1000)));
        assert_eq!(t.get("x-queue-type"), Some(FieldValue::from("quorum")));
        assert_eq!(
            t.get("x-single-active-consumer"),
            Some(FieldValue::Bool(true))
        );
        assert_eq!(t.get("x-label"), Some(FieldValue::from("42")));
        assert_eq!(t.get("x-neg"), Some(FieldValue::I64(-5)));
        let long = "k".repeat(256);
        assert!(arguments(&[(long, "v".into())]).is_err());
    }
}
