//! Commands: they only queue output (or hold it behind a synchronous
//! request on the same channel) and return an id.

use bytes::{Bytes, BytesMut};

use super::channel::{Channel, ChannelState, Outgoing};
use super::{ChannelId, CloseReason, Connection, RequestId, Role, short_arg};
use crate::error::{CommandError, ReplyCode};
use crate::frame::encode_method_frame;
use crate::method::{Method, Sender, basic, channel as chan, connection as conn};
use crate::properties::BasicProperties;
use crate::publish::{encode_content, encode_publish_raw};
use crate::strings::LongStr;

impl Connection {
    /// Client: opens a channel on the lowest free number. The channel is
    /// usable at once (commands wait behind channel.open);
    /// [`Event::ChannelOpened`](super::Event::ChannelOpened) reports the open-ok.
    pub fn open_channel(&mut self) -> Result<ChannelId, CommandError> {
        self.check_open()?;
        if self.role() != Role::Client {
            return Err(CommandError::NotAllowed {
                method: "channel.open",
                why: "only a client opens channels",
            });
        }
        let max = match self.tune.channel_max {
            0 => u16::MAX,
            n => n,
        };
        let free = (1..=max).find(|&id| self.channel(id).is_none());
        let Some(id) = free else {
            return Err(CommandError::NoFreeChannel(max));
        };
        let idx = usize::from(id);
        if self.channels.len() <= idx {
            self.channels.resize_with(idx + 1, || None);
        }
        let request = self.next_request_id();
        let open = Method::ChannelOpen(chan::Open::default());
        encode_method_frame(&mut self.out, id, &open);
        let mut ch = Channel::new(ChannelState::Opening);
        ch.awaiting = Some((request, open));
        if let Some(slot) = self.channels.get_mut(idx) {
            *slot = Some(ch);
        }
        Ok(id)
    }

    /// Closes a channel, either role. Queued commands on it are dropped
    /// (reported in [`Event::ChannelClosed`](super::Event::ChannelClosed)'s
    /// `failed`, which comes when the close-ok does).
    pub fn close_channel(
        &mut self,
        channel: ChannelId,
        code: ReplyCode,
        text: &str,
    ) -> Result<(), CommandError> {
        self.check_open()?;
        match self.channel(channel) {
            Some(c) if c.state != ChannelState::Closing => {}
            _ => return Err(CommandError::ChannelNotOpen(channel)),
        }
        self.close_channel_internal(channel, CloseReason::new(code, text));
        Ok(())
    }

    pub(super) fn close_channel_internal(&mut self, channel: ChannelId, reason: CloseReason) {
        let Some(ch) = self
            .channels
            .get_mut(usize::from(channel))
            .and_then(Option::as_mut)
        else {
            return;
        };
        let m = Method::ChannelClose(chan::Close {
            reply_code: reason.code.0,
            reply_text: reason.text.clone(),
            class_id: reason.class_id,
            method_id: reason.method_id,
        });
        encode_method_frame(&mut self.out, channel, &m);
        ch.state = ChannelState::Closing;
        ch.local_close = Some(reason);
    }

    /// Client: sends any method the client may send on a channel, except
    /// content (use [`basic_publish`](Self::basic_publish)) and channel
    /// open/close (use [`open_channel`](Self::open_channel) and
    /// [`close_channel`](Self::close_channel)).
    ///
    /// A synchronous request is sent when the one before it on the channel
    /// has been answered; its answer comes as
    /// [`Event::Reply`](super::Event::Reply) (or `GetOk`/`GetEmpty`) with
    /// this id. Asynchronous methods and `nowait` requests get no answer
    /// and keep their place in the channel's order. `confirm.select` turns
    /// on publish sequence numbers from here on.
    pub fn call(&mut self, channel: ChannelId, method: Method) -> Result<RequestId, CommandError> {
        self.check_open()?;
        let name = method.name();
        if self.role() != Role::Client || method.sender() == Sender::Server {
            return Err(CommandError::NotAllowed {
                method: name,
                why: "a client does not send it",
            });
        }
        if method.has_content() {
            return Err(CommandError::NotAllowed {
                method: name,
                why: "content goes through basic_publish",
            });
        }
        if matches!(
            method,
            Method::ChannelOpen(_) | Method::ChannelClose(_) | Method::ChannelCloseOk(_)
        ) || method.class_id() == conn::CLASS_ID
        {
            return Err(CommandError::NotAllowed {
                method: name,
                why: "use the dedicated command",
            });
        }
        let request = self.next_request_id();
        let ch = self
            .channels
            .get_mut(usize::from(channel))
            .and_then(Option::as_mut)
            .filter(|c| c.state != ChannelState::Closing)
            .ok_or(CommandError::ChannelNotOpen(channel))?;
        if let Method::ConfirmSelect(_) = method {
            ch.enable_confirms();
        }
        if method.expects_reply() {
            if ch.can_send_now() {
                encode_method_frame(&mut self.out, channel, &method);
                ch.awaiting = Some((request, method));
            } else {
                ch.hold(Outgoing::Request(request, method));
            }
        } else if ch.can_send_now() {
            encode_method_frame(&mut self.out, channel, &method);
        } else {
            let mut b = BytesMut::new();
            encode_method_frame(&mut b, channel, &method);
            ch.hold(Outgoing::Frames(b.freeze()));
        }
        Ok(request)
    }

    /// Client: publishes a message. Returns its publish sequence number when
    /// the channel is in confirm mode (confirm.select was called), for
    /// matching [`Event::Confirmed`](super::Event::Confirmed).
    ///
    /// The frames are written straight into the transmit buffer, the body
    /// split by the negotiated frame_max; if a synchronous request is in
    /// flight on the channel, they wait behind it. Flow control is the
    /// driver's: check [`is_blocked`](Self::is_blocked) (connection.blocked),
    /// [`Event::Flow`](super::Event::Flow) and
    /// [`pending_transmit_bytes`](Self::pending_transmit_bytes) before
    /// publishing; this method does not refuse.
    pub fn basic_publish(
        &mut self,
        channel: ChannelId,
        exchange: &str,
        routing_key: &str,
        mandatory: bool,
        properties: &BasicProperties,
        body: Bytes,
    ) -> Result<Option<u64>, CommandError> {
        self.check_open()?;
        if exchange.len() > 255 {
            return Err(CommandError::StringTooLong {
                what: "exchange",
                len: exchange.len(),
            });
        }
        if routing_key.len() > 255 {
            return Err(CommandError::StringTooLong {
                what: "routing key",
                len: routing_key.len(),
            });
        }
        if self.role() != Role::Client {
            return Err(CommandError::NotAllowed {
                method: "basic.publish",
                why: "a server does not publish",
            });
        }
        let frame_max = self.frame_max();
        let ch = self
            .channels
            .get_mut(usize::from(channel))
            .and_then(Option::as_mut)
            .filter(|c| c.state != ChannelState::Closing)
            .ok_or(CommandError::ChannelNotOpen(channel))?;
        let seq = ch.confirms.as_mut().map(|c| c.on_publish());
        if ch.can_send_now() {
            encode_publish_raw(
                &mut self.out,
                channel,
                exchange.as_bytes(),
                routing_key.as_bytes(),
                mandatory,
                properties,
                &body,
                frame_max,
            );
        } else {
            let mut b = BytesMut::new();
            encode_publish_raw(
                &mut b,
                channel,
                exchange.as_bytes(),
                routing_key.as_bytes(),
                mandatory,
                properties,
                &body,
                frame_max,
            );
            ch.hold(Outgoing::Frames(b.freeze()));
        }
        Ok(seq)
    }

    /// Client: acknowledges a delivery (and, with `multiple`, all before it).
    pub fn basic_ack(
        &mut self,
        channel: ChannelId,
        delivery_tag: u64,
        multiple: bool,
    ) -> Result<(), CommandError> {
        self.call(
            channel,
            basic::Ack {
                delivery_tag,
                multiple,
            }
            .into(),
        )
        .map(drop)
    }

    /// Client: rejects deliveries, requeueing them or not.
    pub fn basic_nack(
        &mut self,
        channel: ChannelId,
        delivery_tag: u64,
        multiple: bool,
        requeue: bool,
    ) -> Result<(), CommandError> {
        self.call(
            channel,
            basic::Nack {
                delivery_tag,
                multiple,
                requeue,
            }
            .into(),
        )
        .map(drop)
    }

    /// Client: rejects one delivery.
    pub fn basic_reject(
        &mut self,
        channel: ChannelId,
        delivery_tag: u64,
        requeue: bool,
    ) -> Result<(), CommandError> {
        self.call(
            channel,
            basic::Reject {
                delivery_tag,
                requeue,
            }
            .into(),
        )
        .map(drop)
    }

    /// Client: replaces the connection's secret (connection.update-secret);
    /// the answer comes as a [`Event::Reply`](super::Event::Reply) on channel 0.
    pub fn update_secret(
        &mut self,
        new_secret: &[u8],
        reason: &str,
    ) -> Result<RequestId, CommandError> {
        self.check_open()?;
        if self.role() != Role::Client || self.secret_request.is_some() {
            return Err(CommandError::NotAllowed {
                method: "connection.update-secret",
                why: "a client sends one at a time",
            });
        }
        let m = conn::UpdateSecret {
            new_secret: LongStr::from(new_secret.to_vec()),
            reason: short_arg("reason", reason)?,
        };
        encode_method_frame(&mut self.out, 0, &m.into());
        let id = self.next_request_id();
        self.secret_request = Some(id);
        Ok(id)
    }

    /// Closes the connection, either role: connection.close goes out, and
    /// [`Event::ConnectionClosed`](super::Event::ConnectionClosed) comes
    /// with the close-ok.
    pub fn close(&mut self, code: ReplyCode, text: &str) -> Result<(), CommandError> {
        match self.state {
            super::State::Closing | super::State::Closed => return Err(CommandError::Closed),
            super::State::AwaitHeader | super::State::AwaitStart => {
                // Nothing can be said before the handshake: just stop.
                self.state = super::State::Closed;
                return Ok(());
            }
            _ => {}
        }
        self.start_close(CloseReason::new(code, text));
        Ok(())
    }

    /// Server: sends a method the server may send on a channel (or on
    /// channel 0: connection.blocked/unblocked).
    pub fn send_method(&mut self, channel: ChannelId, method: Method) -> Result<(), CommandError> {
        self.check_open()?;
        let name = method.name();
        if self.role() != Role::Server || method.sender() == Sender::Client {
            return Err(CommandError::NotAllowed {
                method: name,
                why: "a server does not send it",
            });
        }
        if method.has_content() {
            return Err(CommandError::NotAllowed {
                method: name,
                why: "content goes through send_content",
            });
        }
        if channel == 0 {
            if !matches!(
                method,
                Method::ConnectionBlocked(_) | Method::ConnectionUnblocked(_)
            ) {
                return Err(CommandError::NotAllowed {
                    method: name,
                    why: "only blocked/unblocked go on channel 0 this way",
                });
            }
        } else {
            self.open_channel_mut(channel)?;
        }
        encode_method_frame(&mut self.out, channel, &method);
        Ok(())
    }

    /// Server: sends a content method (deliver, return, get-ok) with its
    /// header and body, split by frame_max.
    pub fn send_content(
        &mut self,
        channel: ChannelId,
        method: Method,
        properties: &BasicProperties,
        body: &[u8],
    ) -> Result<(), CommandError> {
        self.check_open()?;
        if self.role() != Role::Server || !method.has_content() || method.sender() != Sender::Server
        {
            return Err(CommandError::NotAllowed {
                method: method.name(),
                why: "not a content method a server sends",
            });
        }
        self.open_channel_mut(channel)?;
        let frame_max = self.frame_max();
        encode_content(&mut self.out, channel, &method, properties, body, frame_max);
        Ok(())
    }

    /// Server: queues raw bytes for the client, unchecked. For tests that
    /// need a misbehaving server.
    #[doc(hidden)]
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    fn open_channel_mut(&mut self, channel: ChannelId) -> Result<&mut Channel, CommandError> {
        self.channels
            .get_mut(usize::from(channel))
            .and_then(Option::as_mut)
            .filter(|c| c.state != ChannelState::Closing)
            .ok_or(CommandError::ChannelNotOpen(channel))
    }

    /// Sends what waited behind an answered request, up to the next
    /// synchronous request.
    pub(super) fn pump(&mut self, channel: ChannelId) {
        let Some(ch) = self
            .channels
            .get_mut(usize::from(channel))
            .and_then(Option::as_mut)
        else {
            return;
        };
        while ch.state == ChannelState::Open && ch.awaiting.is_none() {
            match ch.unhold() {
                None => break,
                Some(Outgoing::Frames(b)) => self.out.extend_from_slice(&b),
                Some(Outgoing::Request(id, m)) => {
                    encode_method_frame(&mut self.out, channel, &m);
                    ch.awaiting = Some((id, m));
                }
            }
        }
    }
}
