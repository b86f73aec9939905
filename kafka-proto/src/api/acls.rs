//! The ACL APIs: DescribeAcls (key 29), CreateAcls (key 30) and DeleteAcls
//! (key 31). Resource types, pattern types, operations and permission
//! types are the int8 codes of Kafka's `ResourceType`, `PatternType`,
//! `AclOperation` and `AclPermissionType`.

use crate::error::ErrorCode;

kafka_struct! {
    /// Lists the ACLs that match a filter.
    pub struct DescribeAclsRequest {
        /// Resource type (1: any, 2: topic, 3: group, 4: cluster, 5:
        /// transactional id, 6: delegation token, 7: user).
        resource_type_filter: i8 = "0+";
        /// Resource name, or null for any.
        resource_name_filter: Option<String> = "0+" nullable "0+";
        /// Pattern type (1: any, 2: match, 3: literal, 4: prefixed).
        pattern_type_filter: i8 = "1+" default 3;
        /// Principal (`User:alice`), or null for any.
        principal_filter: Option<String> = "0+" nullable "0+";
        /// Host, or null for any.
        host_filter: Option<String> = "0+" nullable "0+";
        /// Operation (1: any, 2: all, 3: read, 4: write, ...).
        operation: i8 = "0+";
        /// Permission type (1: any, 2: deny, 3: allow).
        permission_type: i8 = "0+";
    }
}

kafka_struct! {
    /// The ACLs that matched, by resource.
    pub struct DescribeAclsResponse {
        /// Throttle duration, in milliseconds.
        throttle_time_ms: i32 = "0+";
        /// NONE, or why the filter failed.
        error_code: ErrorCode = "0+";
        /// The broker's message, if it failed.
        error_message: Option<String> = "0+" nullable "0+";
        /// One per resource.
        resources: Vec<DescribeAclsResource> = "0+";
    }
}

kafka_struct! {
    /// One resource and its ACLs.
    pub struct DescribeAclsResource {
        /// Resource type.
        resource_type: i8 = "0+";
        /// Resource name.
        resource_name: String = "0+";
        /// Pattern type (3: literal, 4: prefixed).
        pattern_type: i8 = "1+" default 3;
        /// Its ACLs.
        acls: Vec<AclDescription> = "0+";
    }
}

kafka_struct! {
    /// One ACL of a resource.
    pub struct AclDescription {
        /// Principal (`User:alice`).
        principal: String = "0+";
        /// Host (`*` for any).
        host: String = "0+";
        /// Operation.
        operation: i8 = "0+";
        /// Permission type.
        permission_type: i8 = "0+";
    }
}

kafka_struct! {
    /// Creates ACLs.
    pub struct CreateAclsRequest {
        /// The ACLs to create.
        creations: Vec<AclCreation> = "0+";
    }
}

kafka_struct! {
    /// One ACL to create.
    pub struct AclCreation {
        /// Resource type.
        resource_type: i8 = "0+";
        /// Resource name.
        resource_name: String = "0+";
        /// Pattern type (3: literal, 4: prefixed).
        resource_pattern_type: i8 = "1+" default 3;
        /// Principal (`User:alice`).
        principal: String = "0+";
        /// Host (`*` for any).
        host: String = "0+";
        /// Operation.
        operation: i8 = "0+";
        /// Permission type.
        permission_type: i8 = "0+";
    }
}

kafka_struct! {
    /// What became of each creation, in order.
    pub struct CreateAclsResponse {
        /// Throttle duration, in milliseconds.
        throttle_time_ms: i32 = "0+";
        /// One per creation.
        results: Vec<AclCreationResult> = "0+";
    }
}

kafka_struct! {
    /// One creation's result.
    pub struct AclCreationResult {
        /// NONE, or why it failed.
        error_code: ErrorCode = "0+";
        /// The broker's message, if it failed.
        error_message: Option<String> = "0+" nullable "0+";
    }
}

kafka_struct! {
    /// Deletes the ACLs that match filters.
    pub struct DeleteAclsRequest {
        /// The filters.
        filters: Vec<DeleteAclsFilter> = "0+";
    }
}

kafka_struct! {
    /// One deletion filter.
    pub struct DeleteAclsFilter {
        /// Resource type.
        resource_type_filter: i8 = "0+";
        /// Resource name, or null for any.
        resource_name_filter: Option<String> = "0+" nullable "0+";
        /// Pattern type.
        pattern_type_filter: i8 = "1+" default 3;
        /// Principal, or null for any.
        principal_filter: Option<String> = "0+" nullable "0+";
        /// Host, or null for any.
        host_filter: Option<String> = "0+" nullable "0+";
        /// Operation.
        operation: i8 = "0+";
        /// Permission type.
        permission_type: i8 = "0+";
    }
}

kafka_struct! {
    /// What each filter deleted, in order.
    pub struct DeleteAclsResponse {
        /// Throttle duration, in milliseconds.
        throttle_time_ms: i32 = "0+";
        /// One per filter.
        filter_results: Vec<DeleteAclsFilterResult> = "0+";
    }
}

kafka_struct! {
    /// One filter's result.
    pub struct DeleteAclsFilterResult {
        /// NONE, or why the filter failed.
        error_code: ErrorCode = "0+";
        /// The broker's message, if it failed.
        error_message: Option<String> = "0+" nullable "0+";
        /// The ACLs it matched (and deleted, unless their own error says
        /// otherwise).
        matching_acls: Vec<DeleteAclsMatchingAcl> = "0+";
    }
}

kafka_struct! {
    /// One ACL a deletion filter matched.
    pub struct DeleteAclsMatchingAcl {
        /// NONE, or why this ACL was not deleted.
        error_code: ErrorCode = "0+";
        /// The broker's message, if it failed.
        error_message: Option<String> = "0+" nullable "0+";
        /// Resource type.
        resource_type: i8 = "0+";
        /// Resource name.
        resource_name: String = "0+";
        /// Pattern type.
        pattern_type: i8 = "1+" default 3;
        /// Principal.
        principal: String = "0+";
        /// Host.
        host: String = "0+";
        /// Operation.
        operation: i8 = "0+";
        /// Permission type.
        permission_type: i8 = "0+";
    }
}

kafka_api!(DescribeAclsRequest => DescribeAclsResponse, key DESCRIBE_ACLS, versions 1..=3, flexible Some(2));
kafka_api!(CreateAclsRequest => CreateAclsResponse, key CREATE_ACLS, versions 1..=3, flexible Some(2));
kafka_api!(DeleteAclsRequest => DeleteAclsResponse, key DELETE_ACLS, versions 1..=3, flexible Some(2));
