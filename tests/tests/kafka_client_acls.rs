//! ACLs against the broker's StandardAuthorizer (`scripts/brokers up` runs
//! it, with resources open to everyone until an ACL names them): ACLs made
//! by the admin client are listed by Kafka's own `kafka-acls` and deleted
//! again, and a deny ACL stops the SASL user it names while the same user
//! keeps writing where no ACL applies.

mod kafka_client_support;

use std::time::{Duration, Instant};

use mq_client::kafka::{
    AclBinding, AclBindingFilter, AclOperation, AclPermissionType, Admin, ClientConfig, ErrorCode,
    NewTopic, PatternType, Producer, ProducerRecord, ResourceType,
};
use mq_tests::endpoints::{self, KAFKA_SASL_PASSWORD, KAFKA_SASL_USER};
use mq_tests::{names, tools};

async fn admin() -> Admin {
    Admin::builder(&endpoints::kafka_bootstrap())
        .build()
        .await
        .expect("admin")
}

fn alice() -> String {
    format!("User:{KAFKA_SASL_USER}")
}

#[tokio::test]
async fn acls_are_created_listed_by_kafka_acls_and_deleted() {
    kafka_client_support::init_tracing();
    let admin = admin().await;
    let topic = names::topic("acl-list");
    let acls = [
        AclBinding::allow(ResourceType::Topic, &topic, alice(), AclOperation::Read),
        AclBinding::deny(ResourceType::Topic, &topic, alice(), AclOperation::Write),
        AclBinding {
            pattern_type: PatternType::Prefixed,
            ..AclBinding::allow(
                ResourceType::Group,
                format!("{topic}-g"),
                alice(),
                AclOperation::Read,
            )
        },
    ];
    admin.create_acls(&acls).await.expect("create ACLs");
    // Creating them again changes nothing.
    admin.create_acls(&acls).await.expect("create ACLs again");

    let on_topic = AclBindingFilter::resource(ResourceType::Topic, &topic);
    let mut want = acls[..2].to_vec();
    want.sort();
    let listed = wait_for(&admin, &on_topic, want.len()).await;
    assert_eq!(listed, want);
    // Match finds the prefixed group ACL from a name under its prefix.
    let matching = AclBindingFilter {
        pattern_type: PatternType::Match,
        ..AclBindingFilter::resource(ResourceType::Group, format!("{topic}-g-1"))
    };
    assert_eq!(
        admin.describe_acls(&matching).await.unwrap(),
        [acls[2].clone()]
    );

    // Kafka's own tool lists what we made.
    let out = tools::kafka_java(
        "org.apache.kafka.tools.AclCommand",
        &[
            "--bootstrap-server",
            &endpoints::kafka_bootstrap(),
            "--list",
            "--topic",
            &topic,
        ],
    );
    tools::check("kafka-acls --list", &out);
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "principal=User:alice, host=*, operation=READ, permissionType=ALLOW",
        "principal=User:alice, host=*, operation=WRITE, permissionType=DENY",
    ] {
        assert!(text.contains(needle), "{needle} not in:\n{text}");
    }

    // Delete by filter: the two on the topic, then the group's.
    let deleted = admin
        .delete_acls(std::slice::from_ref(&on_topic))
        .await
        .unwrap();
    assert_eq!(deleted, want);
    assert!(wait_for(&admin, &on_topic, 0).await.is_empty());
    let deleted = admin.delete_acls(&[acls[2].to_filter()]).await.unwrap();
    assert_eq!(deleted, [acls[2].clone()]);
    // A filter that matches nothing deletes nothing.
    assert!(admin.delete_acls(&[on_topic]).await.unwrap().is_empty());
}

/// The ACLs `filter` matches, once there are `count` of them (the
/// authorizer applies metadata a moment after the write).
async fn wait_for(admin: &Admin, filter: &AclBindingFilter, count: usize) -> Vec<AclBinding> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let listed = admin.describe_acls(filter).await.expect("describe ACLs");
        if listed.len() == count || Instant::now() > deadline {
            return listed;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Alice over SASL_PLAINTEXT with SCRAM-SHA-256.
fn alice_config() -> ClientConfig {
    let bootstrap = endpoints::kafka_sasl_plaintext_bootstrap();
    let mut c = ClientConfig::from_properties([
        ("bootstrap.servers", bootstrap.as_str()),
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.mechanism", "SCRAM-SHA-256"),
        ("sasl.username", KAFKA_SASL_USER),
        ("sasl.password", KAFKA_SASL_PASSWORD),
    ])
    .expect("SASL properties");
    c.request_timeout = Duration::from_secs(5);
    c
}

/// Alice writes one record to `topic`.
async fn alice_writes(topic: &str) -> mq_client::kafka::Result<()> {
    let producer = Producer::builder("unused:1")
        .client_config(alice_config())
        .idempotence(false)
        .delivery_timeout(Duration::from_secs(8))
        .build()
        .await?;
    let result = producer
        .send(ProducerRecord::new(topic).value("from alice"))
        .await
        .map(|_| ());
    producer.close().await.ok();
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deny_acl_stops_the_sasl_user_it_names() {
    kafka_client_support::init_tracing();
    let admin = admin().await;
    let denied = names::topic("acl-denied");
    let open = names::topic("acl-open");
    admin
        .create_topics([NewTopic::new(&denied, 1, 1), NewTopic::new(&open, 1, 1)])
        .await
        .unwrap();
    alice_writes(&denied)
        .await
        .expect("no ACL on the topic yet: alice writes");

    let deny = AclBinding::deny(ResourceType::Topic, &denied, alice(), AclOperation::Write);
    admin
        .create_acls(std::slice::from_ref(&deny))
        .await
        .unwrap();
    wait_for(&admin, &deny.to_filter(), 1).await;
    // Denied at once: the ACL also takes Describe from her (a resource
    // with ACLs allows only what they allow), so the topic's metadata says
    // TOPIC_AUTHORIZATION_FAILED, which no wait mends (this took max_block,
    // 60 s, before the metadata wait failed fast on it).
    let started = Instant::now();
    let e = alice_writes(&denied).await.expect_err("alice is denied");
    assert_eq!(e.code(), Some(ErrorCode::TOPIC_AUTHORIZATION_FAILED), "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "denied after {:?}",
        started.elapsed()
    );
    assert!(!e.to_string().contains(KAFKA_SASL_PASSWORD), "{e}");
    alice_writes(&open)
        .await
        .expect("a topic no ACL names stays open to alice");

    // The ACL gone, alice writes again.
    let deleted = admin.delete_acls(&[deny.to_filter()]).await.unwrap();
    assert_eq!(deleted, std::slice::from_ref(&deny));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match alice_writes(&denied).await {
            Ok(()) => break,
            Err(e) if Instant::now() < deadline => {
                assert_eq!(e.code(), Some(ErrorCode::TOPIC_AUTHORIZATION_FAILED), "{e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("alice still denied after the ACL was deleted: {e}"),
        }
    }
    assert_eq!(deny.permission_type, AclPermissionType::Deny);
    admin.delete_topics([denied, open]).await.unwrap();
}
