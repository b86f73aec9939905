//! `mq acl list|add|remove` against the broker's StandardAuthorizer, with
//! Kafka's own `kafka-acls` as the second opinion, and usage errors that
//! are one line before anything is sent.

mod support;

use support::*;

fn cluster() -> String {
    format!("kafka://{}", kafka_bootstrap())
}

fn kafka_acls_list(topic: &str) -> String {
    let out = mq_tests::tools::kafka_java(
        "org.apache.kafka.tools.AclCommand",
        &[
            "--bootstrap-server",
            &kafka_bootstrap(),
            "--list",
            "--topic",
            topic,
        ],
    );
    mq_tests::tools::check("kafka-acls --list", &out);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn acls_added_with_mq_are_listed_by_kafka_acls_and_removed() {
    let topic = mq_tests::names::topic("mq-acl");
    let added = mq(
        &[
            "acl",
            "add",
            &cluster(),
            "--allow-principal",
            "User:alice",
            "--deny-principal",
            "User:mallory",
            "--operation",
            "read",
            "--operation",
            "describe",
            "--topic",
            &topic,
        ],
        b"",
    )
    .ok()
    .text();
    assert_eq!(added, format!("added 4 ACLs on Topic {topic}\n"));

    let listed = kafka_acls_list(&topic);
    for needle in [
        "principal=User:alice, host=*, operation=READ, permissionType=ALLOW",
        "principal=User:alice, host=*, operation=DESCRIBE, permissionType=ALLOW",
        "principal=User:mallory, host=*, operation=READ, permissionType=DENY",
        "principal=User:mallory, host=*, operation=DESCRIBE, permissionType=DENY",
    ] {
        assert!(listed.contains(needle), "{needle} not in:\n{listed}");
    }

    // Our own listing: a header and four rows; JSON with the same.
    let text = mq(&["acl", "list", &cluster(), "--topic", &topic], b"")
        .ok()
        .text();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("RESOURCE  NAME"), "{text}");
    assert_eq!(lines.len(), 5, "{text}");
    assert!(
        lines[1..]
            .iter()
            .all(|l| l.starts_with("Topic") && l.contains(&topic)),
        "{text}"
    );
    let json = mq(
        &[
            "acl",
            "list",
            &cluster(),
            "--topic",
            &topic,
            "--principal",
            "User:mallory",
            "--format",
            "json",
        ],
        b"",
    )
    .ok()
    .text();
    let doc: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    let rows = doc.as_array().expect("an array");
    assert_eq!(rows.len(), 2, "{json}");
    assert!(
        rows.iter()
            .all(|r| r["permission"] == "Deny" && r["principal"] == "User:mallory")
    );

    // Remove mallory's: kafka-acls then lists alice's only.
    let removed = mq(
        &[
            "acl",
            "remove",
            &cluster(),
            "--topic",
            &topic,
            "--principal",
            "User:mallory",
        ],
        b"",
    )
    .ok()
    .text();
    assert_eq!(removed.lines().count(), 3, "{removed}");
    let listed = kafka_acls_list(&topic);
    assert!(!listed.contains("User:mallory"), "{listed}");
    assert!(listed.contains("User:alice"), "{listed}");
    mq(&["acl", "remove", &cluster(), "--topic", &topic], b"").ok();
    assert!(!kafka_acls_list(&topic).contains("User:alice"));
}

#[test]
fn bad_acl_arguments_are_one_line_usage_errors() {
    fails(
        &[
            "acl",
            "add",
            &cluster(),
            "--allow-principal",
            "User:a",
            "--operation",
            "reed",
            "--topic",
            "t",
        ],
        b"",
        USAGE,
        "unknown AclOperation \"reed\"",
    );
    fails(
        &[
            "acl",
            "add",
            &cluster(),
            "--allow-principal",
            "User:a",
            "--operation",
            "read",
        ],
        b"",
        USAGE,
        "needs a resource",
    );
    fails(
        &[
            "acl",
            "add",
            &cluster(),
            "--allow-principal",
            "User:a",
            "--operation",
            "read",
            "--topic",
            "t",
            "--group",
            "g",
        ],
        b"",
        USAGE,
        "takes one of --topic, --group",
    );
    fails(
        &["acl", "remove", &cluster()],
        b"",
        USAGE,
        "or --all-resources",
    );
}
