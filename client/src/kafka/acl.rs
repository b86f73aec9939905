//! ACLs from the admin client: describe, create and delete (what Kafka's
//! `kafka-acls --list`, `--add` and `--remove` do). The types follow the
//! Java admin client's: an [`AclBinding`] is one ACL on one resource
//! pattern, an [`AclBindingFilter`] matches ACLs for describe and delete.
//!
//! A cluster without an authorizer answers every ACL call with
//! `SECURITY_DISABLED`.

use std::fmt;
use std::str::FromStr;

use kafka_proto::ErrorCode;
use kafka_proto::api::acls::{AclCreation, DeleteAclsFilter};
use kafka_proto::api::{CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest};

use crate::kafka::admin::{Admin, retry};
use crate::kafka::error::{Error, Result};

/// Declares a C-like enum over Kafka's int8 codes, with an `Unknown` for
/// codes this client does not know (a newer broker's), and its names.
macro_rules! acl_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $code:literal, $text:literal;)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
            /// A code this client does not know.
            Unknown(i8),
        }

        impl $name {
            /// Kafka's code.
            pub fn code(self) -> i8 {
                match self {
                    $($name::$variant => $code,)*
                    $name::Unknown(c) => c,
                }
            }

            /// From Kafka's code.
            pub fn from_code(code: i8) -> Self {
                match code {
                    $($code => $name::$variant,)*
                    other => $name::Unknown(other),
                }
            }

            /// The name `kafka-acls` uses (`Topic`, `Read`, `Allow`, ...).
            pub fn name(self) -> String {
                match self {
                    $($name::$variant => $text.to_owned(),)*
                    $name::Unknown(c) => format!("Unknown({c})"),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.name())
            }
        }

        impl FromStr for $name {
            type Err = Error;

            /// Case-insensitive, with or without underscores
            /// (`describe_configs`, `DescribeConfigs`).
            fn from_str(s: &str) -> Result<Self> {
                let wanted = s.replace(['_', '-'], "").to_ascii_lowercase();
                $(
                    if wanted == $text.to_ascii_lowercase() {
                        return Ok($name::$variant);
                    }
                )*
                Err(Error::Config(format!(
                    concat!("unknown ", stringify!($name), " {:?} (one of: {})"),
                    s,
                    [$($text),*].join(", ")
                )))
            }
        }
    };
}

acl_enum! {
    /// The kind of resource an ACL is on.
    ResourceType {
        /// Any kind (filters only).
        Any = 1, "Any";
        /// A topic.
        Topic = 2, "Topic";
        /// A consumer group.
        Group = 3, "Group";
        /// The cluster (name `kafka-cluster`).
        Cluster = 4, "Cluster";
        /// A transactional id.
        TransactionalId = 5, "TransactionalId";
        /// A delegation token.
        DelegationToken = 6, "DelegationToken";
        /// A user.
        User = 7, "User";
    }
}

acl_enum! {
    /// How an ACL's resource name matches.
    PatternType {
        /// Any pattern (filters only).
        Any = 1, "Any";
        /// Every ACL that applies to the name given (filters only):
        /// literal, wildcard and prefixed.
        Match = 2, "Match";
        /// The name exactly (`*` for every resource).
        Literal = 3, "Literal";
        /// Every resource whose name starts with the name.
        Prefixed = 4, "Prefixed";
    }
}

acl_enum! {
    /// What an ACL allows or denies.
    AclOperation {
        /// Any operation (filters only).
        Any = 1, "Any";
        /// Every operation.
        All = 2, "All";
        /// Read.
        Read = 3, "Read";
        /// Write.
        Write = 4, "Write";
        /// Create.
        Create = 5, "Create";
        /// Delete.
        Delete = 6, "Delete";
        /// Alter.
        Alter = 7, "Alter";
        /// Describe.
        Describe = 8, "Describe";
        /// Cluster actions (inter-broker).
        ClusterAction = 9, "ClusterAction";
        /// Describe configs.
        DescribeConfigs = 10, "DescribeConfigs";
        /// Alter configs.
        AlterConfigs = 11, "AlterConfigs";
        /// Idempotent writes.
        IdempotentWrite = 12, "IdempotentWrite";
        /// Create delegation tokens.
        CreateTokens = 13, "CreateTokens";
        /// Describe delegation tokens.
        DescribeTokens = 14, "DescribeTokens";
        /// Two-phase commit (KIP-939).
        TwoPhaseCommit = 15, "TwoPhaseCommit";
    }
}

acl_enum! {
    /// Whether an ACL allows or denies.
    AclPermissionType {
        /// Either (filters only).
        Any = 1, "Any";
        /// Deny.
        Deny = 2, "Deny";
        /// Allow.
        Allow = 3, "Allow";
    }
}

/// One ACL: `principal` from `host` may (or may not) do `operation` on the
/// resources `pattern` names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AclBinding {
    /// The kind of resource.
    pub resource_type: ResourceType,
    /// The resource's name (or prefix, or `*`).
    pub resource_name: String,
    /// How the name matches.
    pub pattern_type: PatternType,
    /// Who: `User:alice` (`User:*` for everyone).
    pub principal: String,
    /// From where: an IP address, or `*` for anywhere.
    pub host: String,
    /// What.
    pub operation: AclOperation,
    /// Allow or deny.
    pub permission_type: AclPermissionType,
}

impl AclBinding {
    /// `principal` may do `operation` on the resource named exactly
    /// `resource_name`, from any host.
    pub fn allow(
        resource_type: ResourceType,
        resource_name: impl Into<String>,
        principal: impl Into<String>,
        operation: AclOperation,
    ) -> Self {
        AclBinding {
            resource_type,
            resource_name: resource_name.into(),
            pattern_type: PatternType::Literal,
            principal: principal.into(),
            host: "*".into(),
            operation,
            permission_type: AclPermissionType::Allow,
        }
    }

    /// `principal` may not do `operation` on the resource named exactly
    /// `resource_name`, from any host.
    pub fn deny(
        resource_type: ResourceType,
        resource_name: impl Into<String>,
        principal: impl Into<String>,
        operation: AclOperation,
    ) -> Self {
        AclBinding {
            permission_type: AclPermissionType::Deny,
            ..AclBinding::allow(resource_type, resource_name, principal, operation)
        }
    }

    /// The filter that matches exactly this ACL.
    pub fn to_filter(&self) -> AclBindingFilter {
        AclBindingFilter {
            resource_type: self.resource_type,
            resource_name: Some(self.resource_name.clone()),
            pattern_type: self.pattern_type,
            principal: Some(self.principal.clone()),
            host: Some(self.host.clone()),
            operation: self.operation,
            permission_type: self.permission_type,
        }
    }
}

/// Which ACLs to describe or delete: `None` and the `Any` variants match
/// everything.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AclBindingFilter {
    /// The kind of resource.
    pub resource_type: ResourceType,
    /// The resource name, or `None` for any.
    pub resource_name: Option<String>,
    /// How names match; [`PatternType::Match`] finds every ACL that
    /// applies to `resource_name`.
    pub pattern_type: PatternType,
    /// The principal, or `None` for any.
    pub principal: Option<String>,
    /// The host, or `None` for any.
    pub host: Option<String>,
    /// The operation.
    pub operation: AclOperation,
    /// The permission type.
    pub permission_type: AclPermissionType,
}

impl AclBindingFilter {
    /// Every ACL.
    pub fn any() -> Self {
        AclBindingFilter {
            resource_type: ResourceType::Any,
            resource_name: None,
            pattern_type: PatternType::Any,
            principal: None,
            host: None,
            operation: AclOperation::Any,
            permission_type: AclPermissionType::Any,
        }
    }

    /// Every ACL on the resources of this kind and literal name.
    pub fn resource(resource_type: ResourceType, name: impl Into<String>) -> Self {
        AclBindingFilter {
            resource_type,
            resource_name: Some(name.into()),
            pattern_type: PatternType::Literal,
            ..AclBindingFilter::any()
        }
    }
}

fn binding(
    resource_type: i8,
    resource_name: String,
    pattern_type: i8,
    principal: String,
    host: String,
    operation: i8,
    permission_type: i8,
) -> AclBinding {
    AclBinding {
        resource_type: ResourceType::from_code(resource_type),
        resource_name,
        pattern_type: PatternType::from_code(pattern_type),
        principal,
        host,
        operation: AclOperation::from_code(operation),
        permission_type: AclPermissionType::from_code(permission_type),
    }
}

/// The broker's error for an ACL call, with its message if it gave one.
fn acl_error(code: ErrorCode, message: Option<String>, what: &str) -> Error {
    match message
        .map(|m| m.trim().to_owned())
        .filter(|m| !m.is_empty())
    {
        Some(m) => Error::broker(code, format!("{what}: {m}")),
        None => Error::broker(code, what.to_owned()),
    }
}

impl Admin {
    /// The ACLs that match `filter`, sorted.
    pub async fn describe_acls(&self, filter: &AclBindingFilter) -> Result<Vec<AclBinding>> {
        let request = DescribeAclsRequest {
            resource_type_filter: filter.resource_type.code(),
            resource_name_filter: filter.resource_name.clone(),
            pattern_type_filter: filter.pattern_type.code(),
            principal_filter: filter.principal.clone(),
            host_filter: filter.host.clone(),
            operation: filter.operation.code(),
            permission_type: filter.permission_type.code(),
            ..Default::default()
        };
        let response = retry(self.cluster(), self.operation_timeout(), || async {
            self.cluster().any_broker()?.call(request.clone()).await
        })
        .await?;
        if !response.error_code.is_ok() {
            return Err(acl_error(
                response.error_code,
                response.error_message,
                "DescribeAcls",
            ));
        }
        let mut out: Vec<AclBinding> = response
            .resources
            .into_iter()
            .flat_map(|r| {
                let (kind, name, pattern) = (r.resource_type, r.resource_name, r.pattern_type);
                r.acls.into_iter().map(move |a| {
                    binding(
                        kind,
                        name.clone(),
                        pattern,
                        a.principal,
                        a.host,
                        a.operation,
                        a.permission_type,
                    )
                })
            })
            .collect();
        out.sort();
        Ok(out)
    }

    /// Creates ACLs. Either all are created, or the first refusal is
    /// returned (the broker may have created the others: creating an ACL
    /// that exists changes nothing, so calling again is safe).
    pub async fn create_acls(&self, acls: &[AclBinding]) -> Result<()> {
        if acls.is_empty() {
            return Ok(());
        }
        for acl in acls {
            check_binding(acl)?;
        }
        let request = CreateAclsRequest {
            creations: acls
                .iter()
                .map(|a| AclCreation {
                    resource_type: a.resource_type.code(),
                    resource_name: a.resource_name.clone(),
                    resource_pattern_type: a.pattern_type.code(),
                    principal: a.principal.clone(),
                    host: a.host.clone(),
                    operation: a.operation.code(),
                    permission_type: a.permission_type.code(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let response = retry(self.cluster(), self.operation_timeout(), || async {
            self.cluster().any_broker()?.call(request.clone()).await
        })
        .await?;
        for (acl, result) in acls.iter().zip(response.results) {
            if !result.error_code.is_ok() {
                return Err(acl_error(
                    result.error_code,
                    result.error_message,
                    &format!("CreateAcls {}", describe(acl)),
                ));
            }
        }
        Ok(())
    }

    /// Deletes the ACLs that match any of `filters`; returns those
    /// deleted, sorted.
    pub async fn delete_acls(&self, filters: &[AclBindingFilter]) -> Result<Vec<AclBinding>> {
        if filters.is_empty() {
            return Ok(Vec::new());
        }
        let request = DeleteAclsRequest {
            filters: filters
                .iter()
                .map(|f| DeleteAclsFilter {
                    resource_type_filter: f.resource_type.code(),
                    resource_name_filter: f.resource_name.clone(),
                    pattern_type_filter: f.pattern_type.code(),
                    principal_filter: f.principal.clone(),
                    host_filter: f.host.clone(),
                    operation: f.operation.code(),
                    permission_type: f.permission_type.code(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let response = retry(self.cluster(), self.operation_timeout(), || async {
            self.cluster().any_broker()?.call(request.clone()).await
        })
        .await?;
        let mut deleted = Vec::new();
        for result in response.filter_results {
            if !result.error_code.is_ok() {
                return Err(acl_error(
                    result.error_code,
                    result.error_message,
                    "DeleteAcls",
                ));
            }
            for m in result.matching_acls {
                if !m.error_code.is_ok() {
                    return Err(acl_error(m.error_code, m.error_message, "DeleteAcls"));
                }
                deleted.push(binding(
                    m.resource_type,
                    m.resource_name,
                    m.pattern_type,
                    m.principal,
                    m.host,
                    m.operation,
                    m.permission_type,
                ));
            }
        }
        deleted.sort();
        deleted.dedup();
        Ok(deleted)
    }
}

/// An ACL to create must name one thing: no filter-only values.
fn check_binding(acl: &AclBinding) -> Result<()> {
    let bad = |what: &str| {
        Err(Error::Config(format!(
            "cannot create the ACL {}: {what}",
            describe(acl)
        )))
    };
    if matches!(
        acl.resource_type,
        ResourceType::Any | ResourceType::Unknown(_)
    ) {
        return bad("the resource type must be a concrete one");
    }
    if !matches!(
        acl.pattern_type,
        PatternType::Literal | PatternType::Prefixed
    ) {
        return bad("the pattern type must be Literal or Prefixed");
    }
    if matches!(acl.operation, AclOperation::Any | AclOperation::Unknown(_)) {
        return bad("the operation must be a concrete one");
    }
    if !matches!(
        acl.permission_type,
        AclPermissionType::Allow | AclPermissionType::Deny
    ) {
        return bad("the permission must be Allow or Deny");
    }
    if acl.resource_name.is_empty() || acl.principal.is_empty() || acl.host.is_empty() {
        return bad("the resource name, principal and host must not be empty");
    }
    Ok(())
}

/// `Allow User:alice Read on Topic orders (Literal) from *`.
fn describe(acl: &AclBinding) -> String {
    format!(
        "{} {} {} on {} {} ({}) from {}",
        acl.permission_type,
        acl.principal,
        acl.operation,
        acl.resource_type,
        acl.resource_name,
        acl.pattern_type,
        acl.host
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names_round_trip() {
        for code in -1..=16i8 {
            assert_eq!(AclOperation::from_code(code).code(), code);
            assert_eq!(ResourceType::from_code(code).code(), code);
        }
        assert_eq!(AclOperation::from_code(10), AclOperation::DescribeConfigs);
        assert_eq!(
            "describe_configs".parse::<AclOperation>().unwrap(),
            AclOperation::DescribeConfigs
        );
        assert_eq!(
            "TOPIC".parse::<ResourceType>().unwrap(),
            ResourceType::Topic
        );
        assert_eq!(
            "transactional-id".parse::<ResourceType>().unwrap(),
            ResourceType::TransactionalId
        );
        let e = "reed".parse::<AclOperation>().unwrap_err().to_string();
        assert!(e.contains("reed") && e.contains("Read"), "{e}");
        assert_eq!(ResourceType::Unknown(42).to_string(), "Unknown(42)");
    }

    #[test]
    fn filter_only_values_are_refused_before_sending() {
        let ok = AclBinding::allow(ResourceType::Topic, "t", "User:a", AclOperation::Read);
        assert!(check_binding(&ok).is_ok());
        for bad in [
            AclBinding {
                resource_type: ResourceType::Any,
                ..ok.clone()
            },
            AclBinding {
                pattern_type: PatternType::Match,
                ..ok.clone()
            },
            AclBinding {
                operation: AclOperation::Any,
                ..ok.clone()
            },
            AclBinding {
                permission_type: AclPermissionType::Any,
                ..ok.clone()
            },
            AclBinding {
                principal: String::new(),
                ..ok.clone()
            },
        ] {
            let e = check_binding(&bad).unwrap_err().to_string();
            assert!(e.contains("cannot create the ACL"), "{e}");
        }
        assert_eq!(
            ok.to_filter().resource_name.as_deref(),
            Some("t"),
            "a binding's filter names it exactly"
        );
    }
}
