//! Inbound frames: which are allowed where, and what each method does.
//!
//! Rules enforced here, with the reply code the peer gets:
//! - a heartbeat on a channel other than 0: 501 FRAME_ERROR (spec 4.2.7,
//!   "Heartbeat frames ... MUST use channel zero");
//! - a method the peer's role may not send: 503 COMMAND_INVALID;
//! - a reply that answers no request in flight: 503 COMMAND_INVALID, save
//!   a second basic.cancel-ok, which a client drops (see below);
//! - a method on a channel that is not open: 504 CHANNEL_ERROR;
//! - a method, header or body out of content sequence: 505 UNEXPECTED_FRAME;
//! - a malformed frame or field: 501 / 502 (from the decoder).

use std::time::Instant;

use bytes::Bytes;

use super::channel::{Channel, ChannelState};
use super::content::Inbound;
use super::{ChannelId, CloseReason, Connection, Event, Initiator, Role, State};
use crate::error::{ProtocolError, ReplyCode};
use crate::frame::{FrameKind, FrameRef, encode_method_frame};
use crate::method::{Method, Sender, basic, channel as chan, connection as conn};

fn err(code: ReplyCode, text: String, m: Option<&Method>) -> ProtocolError {
    let e = ProtocolError::connection(code, text);
    match m {
        Some(m) => e.with_method(m.class_id(), m.method_id()),
        None => e,
    }
}

/// The class and method ids at the start of a method frame, for the close
/// that reports a malformed one.
fn peek_ids(chunk: &Bytes, f: &FrameRef) -> (u16, u16) {
    match chunk.get(f.start..f.start.saturating_add(4).min(f.end)) {
        Some(&[a, b, c, d]) => (u16::from_be_bytes([a, b]), u16::from_be_bytes([c, d])),
        _ => (0, 0),
    }
}

impl Connection {
    pub(super) fn handle_frame(
        &mut self,
        now: Instant,
        chunk: &Bytes,
        f: FrameRef,
    ) -> Result<(), ProtocolError> {
        match f.kind {
            FrameKind::Heartbeat => {
                if f.channel != 0 {
                    return Err(err(
                        ReplyCode::FRAME_ERROR,
                        format!("heartbeat frame on channel {}", f.channel),
                        None,
                    ));
                }
                if f.end > f.start {
                    return Err(err(
                        ReplyCode::FRAME_ERROR,
                        format!("heartbeat frame with a {}-byte payload", f.end - f.start),
                        None,
                    ));
                }
                Ok(())
            }
            // "After sending connection.close, any received methods except
            // close and close-ok MUST be discarded", and content with them.
            _ if self.state == State::Closing && f.channel != 0 => Ok(()),
            FrameKind::Method => {
                let (class_id, method_id) = peek_ids(chunk, &f);
                if crate::message::is_content_method(class_id, method_id) && f.channel != 0 {
                    if self.state != State::Open {
                        return Err(err(
                            ReplyCode::CHANNEL_ERROR,
                            format!("content on channel {} during the handshake", f.channel),
                            None,
                        )
                        .with_method(class_id, method_id));
                    }
                    return self.on_content_method(f.channel, chunk, &f);
                }
                let method = crate::frame::method_in(chunk, &f)
                    .map_err(|e| ProtocolError::from(e).with_method(class_id, method_id))?;
                self.on_method(now, f.channel, method)
            }
            FrameKind::Header => {
                self.check_handshake_done(f.channel)?;
                self.on_header_frame(f.channel, chunk, &f)
            }
            FrameKind::Body => {
                self.check_handshake_done(f.channel)?;
                self.on_body_frame(f.channel, chunk, &f)
            }
        }
    }

    fn check_handshake_done(&self, channel: ChannelId) -> Result<(), ProtocolError> {
        match self.state {
            State::Open | State::Closing => Ok(()),
            _ => Err(err(
                ReplyCode::UNEXPECTED_FRAME,
                format!("content on channel {channel} during the handshake"),
                None,
            )),
        }
    }

    fn on_method(
        &mut self,
        now: Instant,
        channel: ChannelId,
        method: Method,
    ) -> Result<(), ProtocolError> {
        let allowed = match (method.sender(), self.role()) {
            (Sender::Both, _) => true,
            (Sender::Server, role) => role == Role::Client,
            (Sender::Client, role) => role == Role::Server,
        };
        if !allowed {
            return Err(err(
                ReplyCode::COMMAND_INVALID,
                format!(
                    "{} may not be sent by the {}",
                    method.name(),
                    match self.role() {
                        Role::Client => "client",
                        Role::Server => "server",
                    }
                ),
                Some(&method),
            ));
        }
        let connection_class = method.class_id() == conn::CLASS_ID;
        if channel == 0 {
            if !connection_class {
                return Err(err(
                    ReplyCode::COMMAND_INVALID,
                    format!("{} on channel 0", method.name()),
                    Some(&method),
                ));
            }
            return match self.state {
                State::Open | State::Closing => self.connection_method(method),
                _ => self.handshake_method(now, method).map(|_| ()),
            };
        }
        if connection_class {
            return Err(err(
                ReplyCode::COMMAND_INVALID,
                format!("{} on channel {channel}", method.name()),
                Some(&method),
            ));
        }
        match self.state {
            State::Open => self.channel_method(channel, method),
            // "After sending connection.close, any received methods except
            // close and close-ok MUST be discarded."
            State::Closing => Ok(()),
            _ => Err(err(
                ReplyCode::CHANNEL_ERROR,
                format!(
                    "{} on channel {channel} during the handshake",
                    method.name()
                ),
                Some(&method),
            )),
        }
    }

    /// connection.* after the handshake.
    fn connection_method(&mut self, method: Method) -> Result<(), ProtocolError> {
        match method {
            m @ (Method::ConnectionClose(_) | Method::ConnectionCloseOk(_)) => {
                self.connection_close_method(m)
            }
            _ if self.state == State::Closing => Ok(()),
            Method::ConnectionBlocked(b) => {
                self.blocked = true;
                self.events.push_back(Event::Blocked { reason: b.reason });
                Ok(())
            }
            Method::ConnectionUnblocked(_) => {
                self.blocked = false;
                self.events.push_back(Event::Unblocked);
                Ok(())
            }
            Method::ConnectionUpdateSecretOk(ok) => match self.secret_request.take() {
                Some(request) => {
                    self.events.push_back(Event::Reply {
                        channel: 0,
                        request,
                        method: ok.into(),
                    });
                    Ok(())
                }
                None => Err(err(
                    ReplyCode::COMMAND_INVALID,
                    "connection.update-secret-ok without a request".to_owned(),
                    Some(&ok.into()),
                )),
            },
            Method::ConnectionUpdateSecret(u) => {
                encode_method_frame(&mut self.out, 0, &conn::UpdateSecretOk {}.into());
                self.events.push_back(Event::Request {
                    channel: 0,
                    method: u.into(),
                });
                Ok(())
            }
            m => Err(err(
                ReplyCode::COMMAND_INVALID,
                format!("{} after the handshake", m.name()),
                Some(&m),
            )),
        }
    }

    /// connection.close or close-ok, in any state.
    pub(super) fn connection_close_method(&mut self, method: Method) -> Result<(), ProtocolError> {
        match method {
            Method::ConnectionClose(c) => {
                encode_method_frame(&mut self.out, 0, &conn::CloseOk {}.into());
                let reason = CloseReason {
                    code: ReplyCode(c.reply_code),
                    text: c.reply_text,
                    class_id: c.class_id,
                    method_id: c.method_id,
                };
                if self.state == State::Closing {
                    // Both sides closed at once: answer, and wait for the
                    // close-ok to ours.
                    return Ok(());
                }
                self.finish_close(Initiator::Peer, reason);
                Ok(())
            }
            Method::ConnectionCloseOk(_) if self.state == State::Closing => {
                let reason = self
                    .local_close
                    .take()
                    .unwrap_or_else(|| CloseReason::new(ReplyCode::SUCCESS, ""));
                self.finish_close(Initiator::Local, reason);
                Ok(())
            }
            m => Err(err(
                ReplyCode::COMMAND_INVALID,
                format!("{} without a connection.close", m.name()),
                Some(&m),
            )),
        }
    }

    fn channel_method(&mut self, channel: ChannelId, method: Method) -> Result<(), ProtocolError> {
        let role = self.role();
        let channel_max = self.tune.channel_max;
        // A server accepts channel.open for a new channel number.
        if let (Role::Server, Method::ChannelOpen(_)) = (role, &method) {
            if self.channel(channel).is_some() || (channel_max != 0 && channel > channel_max) {
                return Err(err(
                    ReplyCode::CHANNEL_ERROR,
                    format!(
                        "channel.open for channel {channel}, which is in use or above channel_max"
                    ),
                    Some(&method),
                ));
            }
            let idx = usize::from(channel);
            if self.channels.len() <= idx {
                self.channels.resize_with(idx + 1, || None);
            }
            if let Some(slot) = self.channels.get_mut(idx) {
                *slot = Some(Channel::new(ChannelState::Open));
            }
            encode_method_frame(&mut self.out, channel, &chan::OpenOk::default().into());
            self.events.push_back(Event::ChannelOpened { channel });
            return Ok(());
        }
        let Some(ch) = self
            .channels
            .get_mut(usize::from(channel))
            .and_then(Option::as_mut)
        else {
            return Err(err(
                ReplyCode::CHANNEL_ERROR,
                format!("{} on channel {channel}, which is not open", method.name()),
                Some(&method),
            ));
        };
        if !matches!(ch.inbound, Inbound::Idle) {
            return Err(err(
                ReplyCode::UNEXPECTED_FRAME,
                format!(
                    "{} on channel {channel} while content was expected",
                    method.name()
                ),
                Some(&method),
            ));
        }
        match method {
            Method::ChannelClose(c) => {
                encode_method_frame(&mut self.out, channel, &chan::CloseOk {}.into());
                if ch.state == ChannelState::Closing {
                    // Both sides closed at once: wait for the close-ok to ours.
                    return Ok(());
                }
                let failed = ch.failed_requests();
                self.remove_channel(channel);
                self.events.push_back(Event::ChannelClosed {
                    channel,
                    initiator: Initiator::Peer,
                    reason: CloseReason {
                        code: ReplyCode(c.reply_code),
                        text: c.reply_text,
                        class_id: c.class_id,
                        method_id: c.method_id,
                    },
                    failed,
                });
                Ok(())
            }
            Method::ChannelCloseOk(_) => {
                if ch.state != ChannelState::Closing {
                    return Err(err(
                        ReplyCode::COMMAND_INVALID,
                        format!("channel.close-ok on channel {channel} without a channel.close"),
                        Some(&Method::ChannelCloseOk(chan::CloseOk {})),
                    ));
                }
                let failed = ch.failed_requests();
                let reason = ch
                    .local_close
                    .take()
                    .unwrap_or_else(|| CloseReason::new(ReplyCode::SUCCESS, ""));
                self.remove_channel(channel);
                self.events.push_back(Event::ChannelClosed {
                    channel,
                    initiator: Initiator::Local,
                    reason,
                    failed,
                });
                Ok(())
            }
            // "After sending channel.close, the peer MUST discard all
            // frames except channel.close and channel.close-ok."
            _ if ch.state == ChannelState::Closing => Ok(()),
            m if role == Role::Server => {
                // The application answers with send_method.
                self.events.push_back(Event::Request { channel, method: m });
                Ok(())
            }
            Method::BasicAck(a) => self.on_confirm(channel, a.delivery_tag, a.multiple, true),
            Method::BasicNack(n) => self.on_confirm(channel, n.delivery_tag, n.multiple, false),
            Method::BasicCancel(c) => {
                if !c.nowait {
                    let ok = basic::CancelOk {
                        consumer_tag: c.consumer_tag.clone(),
                    };
                    encode_method_frame(&mut self.out, channel, &ok.into());
                }
                self.events.push_back(Event::ConsumerCancelled {
                    channel,
                    consumer_tag: c.consumer_tag,
                });
                Ok(())
            }
            Method::ChannelFlow(fl) => {
                let ok = chan::FlowOk { active: fl.active };
                encode_method_frame(&mut self.out, channel, &ok.into());
                self.events.push_back(Event::Flow {
                    channel,
                    active: fl.active,
                });
                Ok(())
            }
            m => {
                let answers = ch
                    .awaiting
                    .as_ref()
                    .is_some_and(|(_, req)| m.is_reply_to(req));
                if !answers && matches!(m, Method::BasicCancelOk(_)) {
                    // RabbitMQ can answer one basic.cancel twice: a quorum
                    // queue's channel sends the cancel-ok before it tells
                    // the queue, and when the queue is deleted meanwhile
                    // the failed call sends it again. A cancel-ok carries
                    // nothing to act on, so a stray one is dropped.
                    return Ok(());
                }
                if !answers {
                    return Err(err(
                        ReplyCode::COMMAND_INVALID,
                        format!("{} on channel {channel} answers no request", m.name()),
                        Some(&m),
                    ));
                }
                let Some((request, req)) = ch.awaiting.take() else {
                    return Ok(());
                };
                if let Method::ChannelOpen(_) = req {
                    ch.state = ChannelState::Open;
                    self.events.push_back(Event::ChannelOpened { channel });
                } else if let Method::BasicGetEmpty(_) = m {
                    self.events.push_back(Event::GetEmpty { channel, request });
                } else {
                    self.events.push_back(Event::Reply {
                        channel,
                        request,
                        method: m,
                    });
                }
                self.pump(channel);
                Ok(())
            }
        }
    }

    fn on_confirm(
        &mut self,
        channel: ChannelId,
        tag: u64,
        multiple: bool,
        ack: bool,
    ) -> Result<(), ProtocolError> {
        let Some(ch) = self.channel_mut(channel) else {
            return Ok(());
        };
        let Some(confirms) = ch.confirms.as_mut() else {
            let name = if ack { "basic.ack" } else { "basic.nack" };
            return Err(err(
                ReplyCode::COMMAND_INVALID,
                format!("{name} on channel {channel}, which is not in confirm mode"),
                None,
            ));
        };
        // An ack for a tag never published or already confirmed changes
        // nothing and is not reported.
        if let Some((first, last)) = confirms.on_confirm(tag, multiple) {
            self.events.push_back(Event::Confirmed {
                channel,
                first,
                last,
                ack,
            });
        }
        Ok(())
    }

    pub(super) fn remove_channel(&mut self, channel: ChannelId) {
        if let Some(slot) = self.channels.get_mut(usize::from(channel)) {
            *slot = None;
        }
        while self.channels.last().is_some_and(Option::is_none) {
            self.channels.pop();
        }
    }
}
