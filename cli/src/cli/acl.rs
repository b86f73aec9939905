//! `mq acl list|add|remove`: Kafka's ACLs, with the names Kafka's
//! `kafka-acls` uses (`--allow-principal`, `--operation`, `--topic`, ...),
//! the arguments and their help.

use clap::{Args, Subcommand};

use super::ClientProps;
use super::admin::ListFormat;

pub(super) const ACL_EXAMPLES: &str = "\
Examples:
  mq acl list kafka://localhost:9092
  mq acl list kafka://localhost:9092 --topic orders --format json
  mq acl add kafka://localhost:9092 --allow-principal User:alice --operation read --operation describe --topic orders
  mq acl add kafka://localhost:9092 --allow-principal User:alice --operation read --group billing- --resource-pattern-type prefixed
  mq acl add kafka://localhost:9092 --deny-principal User:mallory --operation write --topic orders
  mq acl remove kafka://localhost:9092 --topic orders --principal User:mallory";

/// `mq acl`.
#[derive(Debug, Args)]
pub(crate) struct AclArgs {
    /// list, add or remove.
    #[command(subcommand)]
    pub(crate) action: AclAction,
}

/// `mq acl list|add|remove`.
#[derive(Debug, Subcommand)]
pub(crate) enum AclAction {
    /// List ACLs: all of them, or those on one resource.
    #[command(
        long_about = concat!("\
List the cluster's ACLs (DescribeAcls): resource type, name and pattern,
principal, host, operation and permission. With a resource (--topic,
--group, --cluster, --transactional-id), only the ACLs on it; with
--resource-pattern-type match, every ACL that applies to it (literal,
wildcard and prefixed). A cluster without an authorizer refuses with
SECURITY_DISABLED.", kafka_connection_help!()),
        after_help = ACL_EXAMPLES
    )]
    List(AclListArgs),
    /// Add ACLs: each principal times each operation on the resource.
    #[command(
        long_about = concat!("\
Add ACLs (CreateAcls): every --allow-principal and --deny-principal times
every --operation, on the one resource given, from --host (default *, any
host). Adding an ACL that exists changes nothing.", kafka_connection_help!()),
        after_help = ACL_EXAMPLES
    )]
    Add(AclAddArgs),
    /// Remove the ACLs that match: on the resource given, narrowed by
    /// principal, operation, permission and host.
    #[command(
        long_about = concat!("\
Remove ACLs (DeleteAcls): those on the resource given (or on every
resource with --all-resources), narrowed by --principal, --operation,
--permission and --host when given, and print what was removed.", kafka_connection_help!()),
        after_help = ACL_EXAMPLES
    )]
    Remove(AclRemoveArgs),
}

/// The resource an ACL command is about.
#[derive(Debug, Args)]
pub(crate) struct AclResource {
    /// A topic (`*`: every topic).
    #[arg(long, value_name = "NAME")]
    pub(crate) topic: Option<String>,
    /// A consumer group (`*`: every group).
    #[arg(long, value_name = "NAME")]
    pub(crate) group: Option<String>,
    /// The cluster.
    #[arg(long)]
    pub(crate) cluster: bool,
    /// A transactional id (`*`: every one).
    #[arg(long, value_name = "ID")]
    pub(crate) transactional_id: Option<String>,
    /// How the name matches: literal (default), prefixed; for list and
    /// remove also match and any.
    #[arg(long, value_name = "TYPE", default_value = "literal")]
    pub(crate) resource_pattern_type: String,
}

/// `mq acl list`.
#[derive(Debug, Args)]
pub(crate) struct AclListArgs {
    /// kafka://host:port[,host:port...]
    #[arg(value_name = "URL")]
    pub(crate) url: String,
    #[command(flatten)]
    pub(crate) resource: AclResource,
    /// Only the ACLs of this principal (User:alice).
    #[arg(long, value_name = "PRINCIPAL")]
    pub(crate) principal: Option<String>,
    /// Aligned columns, or JSON.
    #[arg(long, value_enum, default_value_t = ListFormat::Text)]
    pub(crate) format: ListFormat,
    #[command(flatten)]
    pub(crate) props: ClientProps,
}

/// `mq acl add`.
#[derive(Debug, Args)]
pub(crate) struct AclAddArgs {
    /// kafka://host:port[,host:port...]
    #[arg(value_name = "URL")]
    pub(crate) url: String,
    #[command(flatten)]
    pub(crate) resource: AclResource,
    /// A principal to allow (User:alice; repeatable).
    #[arg(long, value_name = "PRINCIPAL")]
    pub(crate) allow_principal: Vec<String>,
    /// A principal to deny (repeatable).
    #[arg(long, value_name = "PRINCIPAL")]
    pub(crate) deny_principal: Vec<String>,
    /// An operation: read, write, create, delete, alter, describe,
    /// cluster_action, describe_configs, alter_configs, idempotent_write,
    /// all, ... (repeatable).
    #[arg(long, value_name = "OPERATION", required = true)]
    pub(crate) operation: Vec<String>,
    /// The host the ACL applies from.
    #[arg(long, value_name = "HOST", default_value = "*")]
    pub(crate) host: String,
    #[command(flatten)]
    pub(crate) props: ClientProps,
}

/// `mq acl remove`.
#[derive(Debug, Args)]
pub(crate) struct AclRemoveArgs {
    /// kafka://host:port[,host:port...]
    #[arg(value_name = "URL")]
    pub(crate) url: String,
    #[command(flatten)]
    pub(crate) resource: AclResource,
    /// Remove from every resource (instead of naming one).
    #[arg(long)]
    pub(crate) all_resources: bool,
    /// Only the ACLs of this principal.
    #[arg(long, value_name = "PRINCIPAL")]
    pub(crate) principal: Option<String>,
    /// Only the ACLs for this operation.
    #[arg(long, value_name = "OPERATION")]
    pub(crate) operation: Option<String>,
    /// Only allow or deny ACLs.
    #[arg(long, value_name = "allow|deny")]
    pub(crate) permission: Option<String>,
    /// Only the ACLs from this host.
    #[arg(long, value_name = "HOST")]
    pub(crate) host: Option<String>,
    /// Aligned columns, or JSON.
    #[arg(long, value_enum, default_value_t = ListFormat::Text)]
    pub(crate) format: ListFormat,
    #[command(flatten)]
    pub(crate) props: ClientProps,
}
