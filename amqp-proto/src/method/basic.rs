//! Class `basic` (60): QoS, consumers, publish, deliveries, gets, acks, and
//! RabbitMQ's basic.nack. Publish, return, deliver and get-ok carry content.

use super::methods;
use crate::strings::ShortStr;
use crate::table::FieldTable;

methods! {
    class "basic" = 60;

    /// basic.qos: limits unacknowledged deliveries (prefetch).
    Qos = 10, "qos" {
        /// Prefetch window in octets (RabbitMQ requires 0).
        prefetch_size: u32 = "prefetch-size",
        /// Prefetch window in messages, 0 for no limit.
        prefetch_count: u16 = "prefetch-count",
        /// RabbitMQ: true applies per channel, false per consumer.
        global: bool = "global",
    }

    /// basic.qos-ok.
    QosOk = 11, "qos-ok" {}

    /// basic.consume: starts a consumer.
    Consume = 20, "consume" {
        /// Deprecated, 0.
        ticket: u16 = "ticket",
        /// Queue name.
        queue: ShortStr = "queue",
        /// Consumer tag, or empty for the server to pick one.
        consumer_tag: ShortStr = "consumer-tag",
        /// Do not deliver this connection's own publishes (RabbitMQ ignores it).
        no_local: bool = "no-local",
        /// Deliveries need no ack.
        no_ack: bool = "no-ack",
        /// The only consumer of the queue.
        exclusive: bool = "exclusive",
        /// Expect no reply.
        nowait: bool = "nowait",
        /// Arguments such as `x-priority`.
        arguments: FieldTable = "arguments",
    }

    /// basic.consume-ok.
    ConsumeOk = 21, "consume-ok" {
        /// The consumer tag.
        consumer_tag: ShortStr = "consumer-tag",
    }

    /// basic.cancel: ends a consumer. RabbitMQ also sends it to the client
    /// when a queue goes away (consumer cancel notification).
    Cancel = 30, "cancel" {
        /// The consumer tag.
        consumer_tag: ShortStr = "consumer-tag",
        /// Expect no reply.
        nowait: bool = "nowait",
    }

    /// basic.cancel-ok.
    CancelOk = 31, "cancel-ok" {
        /// The consumer tag.
        consumer_tag: ShortStr = "consumer-tag",
    }

    /// basic.publish: content follows.
    Publish = 40, "publish" {
        /// Deprecated, 0.
        ticket: u16 = "ticket",
        /// Exchange name; empty for the default exchange.
        exchange: ShortStr = "exchange",
        /// Routing key.
        routing_key: ShortStr = "routing-key",
        /// Return the message if it cannot be routed.
        mandatory: bool = "mandatory",
        /// Not supported by RabbitMQ (it closes the connection with 540).
        immediate: bool = "immediate",
    }

    /// basic.return: an unroutable mandatory message comes back; content follows.
    Return = 50, "return" {
        /// Why, such as 312 NO_ROUTE.
        reply_code: u16 = "reply-code",
        /// Reply text.
        reply_text: ShortStr = "reply-text",
        /// Exchange it was published to.
        exchange: ShortStr = "exchange",
        /// Routing key it was published with.
        routing_key: ShortStr = "routing-key",
    }

    /// basic.deliver: a message for a consumer; content follows.
    Deliver = 60, "deliver" {
        /// The consumer.
        consumer_tag: ShortStr = "consumer-tag",
        /// Channel-scoped delivery tag, for acks.
        delivery_tag: u64 = "delivery-tag",
        /// Delivered before.
        redelivered: bool = "redelivered",
        /// Exchange it was published to.
        exchange: ShortStr = "exchange",
        /// Routing key it was published with.
        routing_key: ShortStr = "routing-key",
    }

    /// basic.get: fetches one message.
    Get = 70, "get" {
        /// Deprecated, 0.
        ticket: u16 = "ticket",
        /// Queue name.
        queue: ShortStr = "queue",
        /// The message needs no ack.
        no_ack: bool = "no-ack",
    }

    /// basic.get-ok: the message; content follows.
    GetOk = 71, "get-ok" {
        /// Delivery tag.
        delivery_tag: u64 = "delivery-tag",
        /// Delivered before.
        redelivered: bool = "redelivered",
        /// Exchange it was published to.
        exchange: ShortStr = "exchange",
        /// Routing key it was published with.
        routing_key: ShortStr = "routing-key",
        /// Messages left in the queue.
        message_count: u32 = "message-count",
    }

    /// basic.get-empty: the queue was empty.
    GetEmpty = 72, "get-empty" {
        /// Deprecated, empty.
        cluster_id: ShortStr = "cluster-id",
    }

    /// basic.ack: from a client, acknowledges deliveries; from the server
    /// in confirm mode, confirms publishes.
    Ack = 80, "ack" {
        /// Delivery tag (or publish sequence number).
        delivery_tag: u64 = "delivery-tag",
        /// Also everything up to the tag.
        multiple: bool = "multiple",
    }

    /// basic.reject: rejects one delivery.
    Reject = 90, "reject" {
        /// Delivery tag.
        delivery_tag: u64 = "delivery-tag",
        /// Put it back in the queue.
        requeue: bool = "requeue",
    }

    /// basic.recover-async (deprecated).
    RecoverAsync = 100, "recover-async" {
        /// Requeue rather than redeliver to the same consumer.
        requeue: bool = "requeue",
    }

    /// basic.recover: redelivers unacknowledged messages.
    Recover = 110, "recover" {
        /// Requeue (RabbitMQ refuses false).
        requeue: bool = "requeue",
    }

    /// basic.recover-ok.
    RecoverOk = 111, "recover-ok" {}

    /// basic.nack (RabbitMQ): rejects deliveries, or, from the server in
    /// confirm mode, reports publishes it could not take.
    Nack = 120, "nack" {
        /// Delivery tag (or publish sequence number).
        delivery_tag: u64 = "delivery-tag",
        /// Also everything up to the tag.
        multiple: bool = "multiple",
        /// Put them back in the queue.
        requeue: bool = "requeue",
    }
}
