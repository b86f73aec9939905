//! `mq acl list|add|remove`: Kafka's ACLs on the admin client. Listings
//! follow `mq topics`: aligned columns under a header, or `--format json`.
//! Bad names (an unknown operation) are usage errors before anything is
//! sent; a refusal from the broker is one line on stderr.

use mq_client::kafka::{
    AclBinding, AclBindingFilter, AclOperation, AclPermissionType, PatternType, ResourceType,
};
use serde_json::json;

use super::{KafkaTarget, admin, failure};
use crate::cli::{AclAddArgs, AclListArgs, AclRemoveArgs, AclResource, ListFormat};
use crate::error::CliError;
use crate::output::Output;
use crate::runtime::block_on;

/// The resource named by `--topic`, `--group`, `--cluster` or
/// `--transactional-id` (at most one), with its pattern type.
fn resource(
    r: &AclResource,
    command: &str,
) -> Result<Option<(ResourceType, String, PatternType)>, CliError> {
    let mut named: Vec<(ResourceType, String)> = Vec::new();
    if let Some(t) = &r.topic {
        named.push((ResourceType::Topic, t.clone()));
    }
    if let Some(g) = &r.group {
        named.push((ResourceType::Group, g.clone()));
    }
    if r.cluster {
        named.push((ResourceType::Cluster, "kafka-cluster".into()));
    }
    if let Some(t) = &r.transactional_id {
        named.push((ResourceType::TransactionalId, t.clone()));
    }
    let pattern: PatternType = r
        .resource_pattern_type
        .parse()
        .map_err(|e| CliError::usage(format!("'mq {command}': {e}")))?;
    match named.len() {
        0 => Ok(None),
        1 => {
            let (kind, name) = named.remove(0);
            Ok(Some((kind, name, pattern)))
        }
        _ => Err(CliError::usage(format!(
            "'mq {command}' takes one of --topic, --group, --cluster and --transactional-id"
        ))),
    }
}

fn parse<T: std::str::FromStr<Err = mq_client::kafka::Error>>(
    text: &str,
    command: &str,
) -> Result<T, CliError> {
    text.parse()
        .map_err(|e: mq_client::kafka::Error| CliError::usage(format!("'mq {command}': {e}")))
}

fn print(format: ListFormat, acls: &[AclBinding], out: &mut Output) -> Result<(), CliError> {
    match format {
        ListFormat::Json => out.line(
            &json!(
                acls.iter()
                    .map(|a| json!({
                        "resource_type": a.resource_type.name(),
                        "resource_name": a.resource_name,
                        "pattern_type": a.pattern_type.name(),
                        "principal": a.principal,
                        "host": a.host,
                        "operation": a.operation.name(),
                        "permission": a.permission_type.name(),
                    }))
                    .collect::<Vec<_>>()
            )
            .to_string(),
        ),
        ListFormat::Text => {
            let rows: Vec<Vec<String>> = acls
                .iter()
                .map(|a| {
                    vec![
                        a.resource_type.name(),
                        a.resource_name.clone(),
                        a.pattern_type.name(),
                        a.principal.clone(),
                        a.host.clone(),
                        a.operation.name(),
                        a.permission_type.name(),
                    ]
                })
                .collect();
            out.write_all(
                super::manage::table(
                    &[
                        "RESOURCE",
                        "NAME",
                        "PATTERN",
                        "PRINCIPAL",
                        "HOST",
                        "OPERATION",
                        "PERMISSION",
                    ],
                    &rows,
                )
                .as_bytes(),
            )
        }
    }
}

/// `mq acl list`.
pub(crate) fn list(
    a: &AclListArgs,
    target: &KafkaTarget,
    out: &mut Output,
) -> Result<(), CliError> {
    let mut filter = AclBindingFilter::any();
    if let Some((kind, name, pattern)) = resource(&a.resource, "acl list")? {
        filter = AclBindingFilter {
            pattern_type: pattern,
            ..AclBindingFilter::resource(kind, name)
        };
    }
    filter.principal = a.principal.clone();
    let acls = block_on(async {
        let admin = admin(target).await?;
        admin
            .describe_acls(&filter)
            .await
            .map_err(|e| failure(&e, "list ACLs"))
    })?;
    print(a.format, &acls, out)
}

/// `mq acl add`.
pub(crate) fn add(a: &AclAddArgs, target: &KafkaTarget, out: &mut Output) -> Result<(), CliError> {
    let command = "acl add";
    let Some((kind, name, pattern)) = resource(&a.resource, command)? else {
        return Err(CliError::usage(
            "'mq acl add' needs a resource: --topic, --group, --cluster or --transactional-id",
        ));
    };
    if !matches!(pattern, PatternType::Literal | PatternType::Prefixed) {
        return Err(CliError::usage(
            "'mq acl add' takes --resource-pattern-type literal or prefixed",
        ));
    }
    if a.allow_principal.is_empty() && a.deny_principal.is_empty() {
        return Err(CliError::usage(
            "'mq acl add' needs --allow-principal or --deny-principal",
        ));
    }
    let operations: Vec<AclOperation> = a
        .operation
        .iter()
        .map(|o| parse(o, command))
        .collect::<Result<_, _>>()?;
    let principals = a
        .allow_principal
        .iter()
        .map(|p| (p, AclPermissionType::Allow))
        .chain(
            a.deny_principal
                .iter()
                .map(|p| (p, AclPermissionType::Deny)),
        );
    let mut acls = Vec::new();
    for (principal, permission_type) in principals {
        for &operation in &operations {
            acls.push(AclBinding {
                resource_type: kind,
                resource_name: name.clone(),
                pattern_type: pattern,
                principal: principal.clone(),
                host: a.host.clone(),
                operation,
                permission_type,
            });
        }
    }
    block_on(async {
        let admin = admin(target).await?;
        admin
            .create_acls(&acls)
            .await
            .map_err(|e| failure(&e, "add ACLs"))
    })?;
    out.line(&format!(
        "added {} ACL{} on {kind} {name}",
        acls.len(),
        if acls.len() == 1 { "" } else { "s" }
    ))
}

/// `mq acl remove`.
pub(crate) fn remove(
    a: &AclRemoveArgs,
    target: &KafkaTarget,
    out: &mut Output,
) -> Result<(), CliError> {
    let command = "acl remove";
    let mut filter = match (resource(&a.resource, command)?, a.all_resources) {
        (Some((kind, name, pattern)), false) => AclBindingFilter {
            pattern_type: pattern,
            ..AclBindingFilter::resource(kind, name)
        },
        (None, true) => AclBindingFilter::any(),
        (Some(_), true) => {
            return Err(CliError::usage(
                "'mq acl remove' takes a resource or --all-resources, not both",
            ));
        }
        (None, false) => {
            return Err(CliError::usage(
                "'mq acl remove' needs a resource (--topic, --group, --cluster, \
                 --transactional-id) or --all-resources",
            ));
        }
    };
    filter.principal = a.principal.clone();
    filter.host = a.host.clone();
    if let Some(o) = &a.operation {
        filter.operation = parse(o, command)?;
    }
    if let Some(p) = &a.permission {
        filter.permission_type = parse(p, command)?;
    }
    let removed = block_on(async {
        let admin = admin(target).await?;
        admin
            .delete_acls(std::slice::from_ref(&filter))
            .await
            .map_err(|e| failure(&e, "remove ACLs"))
    })?;
    print(a.format, &removed, out)
}
