//! Every class and method of the RabbitMQ 0-9-1 spec, in both directions.
//!
//! One module per class; each method is a plain struct written with the
//! `methods!` DSL. [`Method`] is the enum over all of them, with
//! [`Method::decode`] and [`Method::encode`], so this crate can play the
//! client or the server.

use bytes::{Bytes, BytesMut};

use crate::error::DecodeError;
use crate::primitives::{Reader, Writer};
use crate::strings::{LongStr, ShortStr};
use crate::table::FieldTable;

mod macros;
pub(crate) use macros::methods;

pub mod access;
pub mod basic;
pub mod channel;
pub mod confirm;
pub mod connection;
pub mod exchange;
pub mod queue;
pub mod tx;

/// A type that is one of the spec's field domains.
pub(crate) trait Wire: Sized {
    /// The spec's name for the wire type.
    const TYPE: &'static str;
    fn read(r: &mut Reader<'_>, what: &'static str) -> Result<Self, DecodeError>;
    fn write(&self, w: &mut Writer<'_>);
}

macro_rules! wire {
    ($($t:ty, $name:literal, $read:ident, |$v:ident, $w:ident| $write:expr;)*) => {$(
        impl Wire for $t {
            const TYPE: &'static str = $name;
            #[inline]
            fn read(r: &mut Reader<'_>, what: &'static str) -> Result<Self, DecodeError> {
                r.$read(what)
            }
            #[inline]
            fn write(&self, $w: &mut Writer<'_>) {
                let $v = self;
                $write
            }
        }
    )*};
}

wire! {
    bool, "bit", bit, |v, w| w.bit(*v);
    u8, "octet", octet, |v, w| w.octet(*v);
    u16, "short", short, |v, w| w.short(*v);
    u32, "long", long, |v, w| w.long(*v);
    u64, "longlong", longlong, |v, w| w.longlong(*v);
    ShortStr, "shortstr", shortstr, |v, w| w.shortstr(v);
    LongStr, "longstr", longstr, |v, w| w.longstr(v);
    FieldTable, "table", table, |v, w| w.table(v);
}

/// What the catalog knows about one method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MethodInfo {
    /// Class id.
    pub class_id: u16,
    /// Method id.
    pub method_id: u16,
    /// `class.method`.
    pub name: &'static str,
    /// Fields in wire order: spec name and wire type.
    pub fields: &'static [(&'static str, &'static str)],
}

macro_rules! method_enum {
    ($($variant:ident($class:ident::$ty:ident)),* $(,)?) => {
        /// Any method of the spec.
        #[derive(Debug, Clone, PartialEq, Eq)]
        #[non_exhaustive]
        pub enum Method {
            $(
                #[doc = concat!("`", stringify!($class), ".", stringify!($ty), "`")]
                $variant($class::$ty),
            )*
        }

        $(
            impl From<$class::$ty> for Method {
                fn from(m: $class::$ty) -> Method {
                    Method::$variant(m)
                }
            }
        )*

        /// Every method this crate implements.
        pub const CATALOG: &[MethodInfo] = &[$(
            MethodInfo {
                class_id: $class::$ty::CLASS_ID,
                method_id: $class::$ty::METHOD_ID,
                name: $class::$ty::NAME,
                fields: $class::$ty::FIELDS,
            },
        )*];

        impl Method {
            /// Reads class id, method id and arguments.
            #[inline]
            pub(crate) fn read(r: &mut Reader<'_>) -> Result<Method, DecodeError> {
                let class_id = r.short("class-id")?;
                let method_id = r.short("method-id")?;
                match (class_id, method_id) {
                    $(
                        ($class::$ty::CLASS_ID, $class::$ty::METHOD_ID) => {
                            Ok(Method::$variant($class::$ty::read(r)?))
                        }
                    )*
                    _ => Err(DecodeError::UnknownMethod { class_id, method_id }),
                }
            }

            /// A strategy over every method, each with arbitrary fields.
            #[cfg(test)]
            pub(crate) fn arbitrary() -> proptest::strategy::BoxedStrategy<Method> {
                use proptest::strategy::Strategy;
                proptest::strategy::Union::new(vec![
                    $($class::$ty::arbitrary().prop_map(Method::$variant).boxed(),)*
                ])
                .boxed()
            }

            /// Writes class id, method id and arguments (a method frame's payload).
            #[inline]
            pub fn encode(&self, out: &mut BytesMut) {
                let mut w = Writer::new(out);
                w.short(self.class_id());
                w.short(self.method_id());
                match self {
                    $(Method::$variant(m) => m.write(&mut w),)*
                }
                w.finish();
            }

            /// The class id.
            pub fn class_id(&self) -> u16 {
                match self {
                    $(Method::$variant(_) => $class::$ty::CLASS_ID,)*
                }
            }

            /// The method id.
            pub fn method_id(&self) -> u16 {
                match self {
                    $(Method::$variant(_) => $class::$ty::METHOD_ID,)*
                }
            }

            /// `class.method`, as the spec names it.
            pub fn name(&self) -> &'static str {
                match self {
                    $(Method::$variant(_) => $class::$ty::NAME,)*
                }
            }
        }
    };
}

method_enum! {
    ConnectionStart(connection::Start),
    ConnectionStartOk(connection::StartOk),
    ConnectionSecure(connection::Secure),
    ConnectionSecureOk(connection::SecureOk),
    ConnectionTune(connection::Tune),
    ConnectionTuneOk(connection::TuneOk),
    ConnectionOpen(connection::Open),
    ConnectionOpenOk(connection::OpenOk),
    ConnectionClose(connection::Close),
    ConnectionCloseOk(connection::CloseOk),
    ConnectionBlocked(connection::Blocked),
    ConnectionUnblocked(connection::Unblocked),
    ConnectionUpdateSecret(connection::UpdateSecret),
    ConnectionUpdateSecretOk(connection::UpdateSecretOk),
    ChannelOpen(channel::Open),
    ChannelOpenOk(channel::OpenOk),
    ChannelFlow(channel::Flow),
    ChannelFlowOk(channel::FlowOk),
    ChannelClose(channel::Close),
    ChannelCloseOk(channel::CloseOk),
    AccessRequest(access::Request),
    AccessRequestOk(access::RequestOk),
    ExchangeDeclare(exchange::Declare),
    ExchangeDeclareOk(exchange::DeclareOk),
    ExchangeDelete(exchange::Delete),
    ExchangeDeleteOk(exchange::DeleteOk),
    ExchangeBind(exchange::Bind),
    ExchangeBindOk(exchange::BindOk),
    ExchangeUnbind(exchange::Unbind),
    ExchangeUnbindOk(exchange::UnbindOk),
    QueueDeclare(queue::Declare),
    QueueDeclareOk(queue::DeclareOk),
    QueueBind(queue::Bind),
    QueueBindOk(queue::BindOk),
    QueuePurge(queue::Purge),
    QueuePurgeOk(queue::PurgeOk),
    QueueDelete(queue::Delete),
    QueueDeleteOk(queue::DeleteOk),
    QueueUnbind(queue::Unbind),
    QueueUnbindOk(queue::UnbindOk),
    BasicQos(basic::Qos),
    BasicQosOk(basic::QosOk),
    BasicConsume(basic::Consume),
    BasicConsumeOk(basic::ConsumeOk),
    BasicCancel(basic::Cancel),
    BasicCancelOk(basic::CancelOk),
    BasicPublish(basic::Publish),
    BasicReturn(basic::Return),
    BasicDeliver(basic::Deliver),
    BasicGet(basic::Get),
    BasicGetOk(basic::GetOk),
    BasicGetEmpty(basic::GetEmpty),
    BasicAck(basic::Ack),
    BasicReject(basic::Reject),
    BasicRecoverAsync(basic::RecoverAsync),
    BasicRecover(basic::Recover),
    BasicRecoverOk(basic::RecoverOk),
    BasicNack(basic::Nack),
    TxSelect(tx::Select),
    TxSelectOk(tx::SelectOk),
    TxCommit(tx::Commit),
    TxCommitOk(tx::CommitOk),
    TxRollback(tx::Rollback),
    TxRollbackOk(tx::RollbackOk),
    ConfirmSelect(confirm::Select),
    ConfirmSelectOk(confirm::SelectOk),
}

/// Which side of a connection may send a method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sender {
    /// Only the client.
    Client,
    /// Only the server.
    Server,
    /// Either.
    Both,
}

impl Method {
    /// Decodes a method frame's payload: class id, method id, arguments.
    /// Bytes left over after the last argument are an error.
    pub fn decode(payload: &Bytes) -> Result<Method, DecodeError> {
        let mut r = Reader::new(payload);
        let m = Method::read(&mut r)?;
        r.finish(m.name())?;
        Ok(m)
    }

    /// Whether content (header and body frames) follows this method.
    pub fn has_content(&self) -> bool {
        matches!(
            self,
            Method::BasicPublish(_)
                | Method::BasicReturn(_)
                | Method::BasicDeliver(_)
                | Method::BasicGetOk(_)
        )
    }

    /// The `nowait` flag, for methods that have one.
    pub fn nowait(&self) -> Option<bool> {
        Some(match self {
            Method::ExchangeDeclare(m) => m.nowait,
            Method::ExchangeDelete(m) => m.nowait,
            Method::ExchangeBind(m) => m.nowait,
            Method::ExchangeUnbind(m) => m.nowait,
            Method::QueueDeclare(m) => m.nowait,
            Method::QueueBind(m) => m.nowait,
            Method::QueuePurge(m) => m.nowait,
            Method::QueueDelete(m) => m.nowait,
            Method::BasicConsume(m) => m.nowait,
            Method::BasicCancel(m) => m.nowait,
            Method::ConfirmSelect(m) => m.nowait,
            _ => return None,
        })
    }

    /// Whether this is a synchronous request: the sender waits for one of
    /// the replies that [`Method::is_reply_to`] accepts (unless `nowait`).
    pub fn is_request(&self) -> bool {
        matches!(
            self,
            Method::ConnectionStart(_)
                | Method::ConnectionSecure(_)
                | Method::ConnectionTune(_)
                | Method::ConnectionOpen(_)
                | Method::ConnectionClose(_)
                | Method::ConnectionUpdateSecret(_)
                | Method::ChannelOpen(_)
                | Method::ChannelFlow(_)
                | Method::ChannelClose(_)
                | Method::AccessRequest(_)
                | Method::ExchangeDeclare(_)
                | Method::ExchangeDelete(_)
                | Method::ExchangeBind(_)
                | Method::ExchangeUnbind(_)
                | Method::QueueDeclare(_)
                | Method::QueueBind(_)
                | Method::QueuePurge(_)
                | Method::QueueDelete(_)
                | Method::QueueUnbind(_)
                | Method::BasicQos(_)
                | Method::BasicConsume(_)
                | Method::BasicCancel(_)
                | Method::BasicGet(_)
                | Method::BasicRecover(_)
                | Method::TxSelect(_)
                | Method::TxCommit(_)
                | Method::TxRollback(_)
                | Method::ConfirmSelect(_)
        )
    }

    /// Whether the request expects a reply: a request without `nowait` set.
    pub fn expects_reply(&self) -> bool {
        self.is_request() && !self.nowait().unwrap_or(false)
    }

    /// Whether `self` answers `request`.
    pub fn is_reply_to(&self, request: &Method) -> bool {
        use Method as M;
        matches!(
            (request, self),
            (M::ConnectionStart(_), M::ConnectionStartOk(_))
                | (M::ConnectionSecure(_), M::ConnectionSecureOk(_))
                | (M::ConnectionTune(_), M::ConnectionTuneOk(_))
                | (M::ConnectionOpen(_), M::ConnectionOpenOk(_))
                | (M::ConnectionClose(_), M::ConnectionCloseOk(_))
                | (M::ConnectionUpdateSecret(_), M::ConnectionUpdateSecretOk(_))
                | (M::ChannelOpen(_), M::ChannelOpenOk(_))
                | (M::ChannelFlow(_), M::ChannelFlowOk(_))
                | (M::ChannelClose(_), M::ChannelCloseOk(_))
                | (M::AccessRequest(_), M::AccessRequestOk(_))
                | (M::ExchangeDeclare(_), M::ExchangeDeclareOk(_))
                | (M::ExchangeDelete(_), M::ExchangeDeleteOk(_))
                | (M::ExchangeBind(_), M::ExchangeBindOk(_))
                | (M::ExchangeUnbind(_), M::ExchangeUnbindOk(_))
                | (M::QueueDeclare(_), M::QueueDeclareOk(_))
                | (M::QueueBind(_), M::QueueBindOk(_))
                | (M::QueuePurge(_), M::QueuePurgeOk(_))
                | (M::QueueDelete(_), M::QueueDeleteOk(_))
                | (M::QueueUnbind(_), M::QueueUnbindOk(_))
                | (M::BasicQos(_), M::BasicQosOk(_))
                | (M::BasicConsume(_), M::BasicConsumeOk(_))
                | (M::BasicCancel(_), M::BasicCancelOk(_))
                | (M::BasicGet(_), M::BasicGetOk(_) | M::BasicGetEmpty(_))
                | (M::BasicRecover(_), M::BasicRecoverOk(_))
                | (M::TxSelect(_), M::TxSelectOk(_))
                | (M::TxCommit(_), M::TxCommitOk(_))
                | (M::TxRollback(_), M::TxRollbackOk(_))
                | (M::ConfirmSelect(_), M::ConfirmSelectOk(_))
        )
    }

    /// Whether this is a reply to some request.
    pub fn is_reply(&self) -> bool {
        use Method as M;
        matches!(
            self,
            M::ConnectionStartOk(_)
                | M::ConnectionSecureOk(_)
                | M::ConnectionTuneOk(_)
                | M::ConnectionOpenOk(_)
                | M::ConnectionCloseOk(_)
                | M::ConnectionUpdateSecretOk(_)
                | M::ChannelOpenOk(_)
                | M::ChannelFlowOk(_)
                | M::ChannelCloseOk(_)
                | M::AccessRequestOk(_)
                | M::ExchangeDeclareOk(_)
                | M::ExchangeDeleteOk(_)
                | M::ExchangeBindOk(_)
                | M::ExchangeUnbindOk(_)
                | M::QueueDeclareOk(_)
                | M::QueueBindOk(_)
                | M::QueuePurgeOk(_)
                | M::QueueDeleteOk(_)
                | M::QueueUnbindOk(_)
                | M::BasicQosOk(_)
                | M::BasicConsumeOk(_)
                | M::BasicCancelOk(_)
                | M::BasicGetOk(_)
                | M::BasicGetEmpty(_)
                | M::BasicRecoverOk(_)
                | M::TxSelectOk(_)
                | M::TxCommitOk(_)
                | M::TxRollbackOk(_)
                | M::ConfirmSelectOk(_)
        )
    }

    /// Which side may send this method (RabbitMQ's extensions included:
    /// the server sends basic.cancel and, in confirm mode, basic.ack and
    /// basic.nack).
    pub fn sender(&self) -> Sender {
        use Method as M;
        match self {
            M::ConnectionStart(_)
            | M::ConnectionSecure(_)
            | M::ConnectionTune(_)
            | M::ConnectionOpenOk(_)
            | M::ConnectionBlocked(_)
            | M::ConnectionUnblocked(_)
            | M::ConnectionUpdateSecretOk(_)
            | M::ChannelOpenOk(_)
            | M::AccessRequestOk(_)
            | M::ExchangeDeclareOk(_)
            | M::ExchangeDeleteOk(_)
            | M::ExchangeBindOk(_)
            | M::ExchangeUnbindOk(_)
            | M::QueueDeclareOk(_)
            | M::QueueBindOk(_)
            | M::QueuePurgeOk(_)
            | M::QueueDeleteOk(_)
            | M::QueueUnbindOk(_)
            | M::BasicQosOk(_)
            | M::BasicConsumeOk(_)
            | M::BasicReturn(_)
            | M::BasicDeliver(_)
            | M::BasicGetOk(_)
            | M::BasicGetEmpty(_)
            | M::BasicRecoverOk(_)
            | M::TxSelectOk(_)
            | M::TxCommitOk(_)
            | M::TxRollbackOk(_)
            | M::ConfirmSelectOk(_) => Sender::Server,
            M::ConnectionClose(_)
            | M::ConnectionCloseOk(_)
            | M::ChannelFlow(_)
            | M::ChannelFlowOk(_)
            | M::ChannelClose(_)
            | M::ChannelCloseOk(_)
            | M::BasicCancel(_)
            | M::BasicCancelOk(_)
            | M::BasicAck(_)
            | M::BasicNack(_) => Sender::Both,
            _ => Sender::Client,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
