//! One unary gRPC call on the wire: the request's single length-prefixed
//! message read from an HTTP/2 body, and the answer sent as a body of short
//! DATA frames with `grpc-status: 0` in its trailers.
//!
//! A call this cannot read is the caller's fault, never the service's: the
//! reader says why as a [`DenyReason`], and `Check` answers it with a
//! denial. A gRPC error would go to Envoy's `failure_mode_allow`.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use tokio::sync::{Semaphore, SemaphorePermit};
use tonic::codegen::{Bytes, http};

use crate::decision::DenyReason;

/// The largest message read: gRPC's usual default, which a `CheckRequest`
/// with a large `with_request_body` can exceed.
pub const MAX_MESSAGE: usize = 4 * 1024 * 1024;

/// The memory all `Check` calls being read and decided may hold, in
/// bytes: sixteen of the largest messages at once, or some 3,800 calls
/// whose message fits in one DATA frame. Each call takes its share when it
/// arrives ([`arrival_cost`]) and more for a message in several frames; a
/// call that finds no room is denied at once (`DenyReason::Busy`), never
/// made to wait, so callers holding many slow calls cost the process this
/// much and no more.
pub const READ_BUDGET: usize = 16 * (PREFIX + MAX_MESSAGE);

/// The largest DATA frame a caller may send: HTTP/2's default
/// `SETTINGS_MAX_FRAME_SIZE`, which the port keeps.
pub const MAX_FRAME: usize = 16 * 1024;

/// A call's share of [`READ_BUDGET`] on arrival: its header list as
/// HTTP/2 counts it (each entry's name and value, plus 32 bytes), and room
/// for the first DATA frame, which is kept without a copy.
pub fn arrival_cost(headers: &http::HeaderMap) -> usize {
    let listed: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 32)
        .sum();
    listed + MAX_FRAME
}

/// The length prefix of a gRPC message: a compression flag, then the
/// message's length as a big-endian `u32`.
const PREFIX: usize = 5;

/// The largest DATA payload h2 still copies into its write buffer (its
/// chaining threshold is 256 bytes).
///
/// h2 keeps a longer payload aside and must write it out before it can
/// buffer another frame. An allow (identity headers, headers to remove,
/// dynamic metadata) is usually longer than that, so its trailers waited
/// for a second `writev`, and under load no two answers could share one:
/// the syscalls alone cost more CPU per Check than the decision. Cut into
/// frames under that size, the headers, data and trailers of many answers
/// leave in one write. A gRPC message may span any number of DATA frames,
/// so Envoy reads the same bytes.
pub const MAX_DATA_FRAME: usize = 255;

/// The one message of a unary call, read whole from `body`.
///
/// Refused: a message declared longer than [`MAX_MESSAGE`] (as soon as its
/// prefix arrives, before the rest is read), a body with no message or one
/// cut short, a compressed message (no compression is offered), and a body
/// with anything after its message, such as a second one.
///
/// A message in one DATA frame is kept as it came, within the share the
/// call took on arrival ([`arrival_cost`]). One in several is copied
/// together, and the copy takes its bytes from `budget` as it grows; with
/// no room left the call is denied as `Busy`.
pub async fn read_message<B>(mut body: B, budget: &Semaphore) -> Result<Bytes, DenyReason>
where
    B: Body<Data = Bytes> + Unpin,
{
    let mut received = Received::new(budget);
    while let Some(frame) = body.frame().await {
        // A stream reset by the caller: there is no one to answer, but a
        // denial is what is decided.
        let frame = frame.map_err(|_| DenyReason::UnreadableRequest)?;
        if let Ok(data) = frame.into_data() {
            received.push(data)?;
        }
    }
    received.message()
}

/// The body's bytes so far: most calls arrive in one DATA frame, which is
/// kept as it came, without a copy.
struct Received<'a> {
    first: Bytes,
    /// The bytes of every frame, once there is more than one.
    joined: Vec<u8>,
    budget: &'a Semaphore,
    /// Room in `budget` for `joined`.
    held: Option<SemaphorePermit<'a>>,
}

impl<'a> Received<'a> {
    fn new(budget: &'a Semaphore) -> Self {
        Self {
            first: Bytes::new(),
            joined: Vec::new(),
            budget,
            held: None,
        }
    }

    fn bytes(&self) -> &[u8] {
        if self.joined.is_empty() {
            &self.first
        } else {
            &self.joined
        }
    }

    fn push(&mut self, data: Bytes) -> Result<(), DenyReason> {
        if data.is_empty() {
            return Ok(());
        }
        if self.first.is_empty() && self.joined.is_empty() {
            self.first = data;
        } else {
            let copied = if self.joined.is_empty() {
                std::mem::take(&mut self.first)
            } else {
                Bytes::new()
            };
            self.hold(copied.len() + data.len())?;
            self.joined.extend_from_slice(&copied);
            self.joined.extend_from_slice(&data);
        }
        // Read no further than the declared message: a larger one is
        // refused on its prefix, and bytes past it are a second message.
        match declared_length(self.bytes()) {
            Some(length) if length > MAX_MESSAGE => Err(DenyReason::RequestTooLarge),
            Some(length) if self.bytes().len() > PREFIX + length => {
                Err(DenyReason::UnreadableRequest)
            }
            _ => Ok(()),
        }
    }

    /// Room in the budget for `more` bytes of `joined`. A body over
    /// [`MAX_MESSAGE`] plus its prefix is refused as too large instead.
    fn hold(&mut self, more: usize) -> Result<(), DenyReason> {
        let total = self.joined.len() + more;
        if total > PREFIX + MAX_MESSAGE {
            return Err(DenyReason::RequestTooLarge);
        }
        let more = u32::try_from(more).map_err(|_| DenyReason::RequestTooLarge)?;
        let permit = self
            .budget
            .try_acquire_many(more)
            .map_err(|_| DenyReason::Busy)?;
        match &mut self.held {
            Some(held) => held.merge(permit),
            None => self.held = Some(permit),
        }
        Ok(())
    }

    fn message(self) -> Result<Bytes, DenyReason> {
        let Some(length) = declared_length(self.bytes()) else {
            return Err(DenyReason::UnreadableRequest);
        };
        if self.bytes().len() != PREFIX + length {
            return Err(DenyReason::UnreadableRequest);
        }
        if self.bytes()[0] != 0 {
            // 1 is a compressed message; anything else is no gRPC at all.
            return Err(DenyReason::UnreadableRequest);
        }
        Ok(if self.joined.is_empty() {
            self.first.slice(PREFIX..)
        } else {
            Bytes::from(self.joined).slice(PREFIX..)
        })
    }
}

/// The message length a prefix declares, once all five bytes are there.
fn declared_length(bytes: &[u8]) -> Option<usize> {
    let length: [u8; 4] = bytes.get(1..PREFIX)?.try_into().ok()?;
    usize::try_from(u32::from_be_bytes(length)).ok()
}

/// A buffer for one framed answer: the message is written after room for
/// its prefix, which [`Answer::framed`] fills in.
pub fn answer_buffer(message_length: usize) -> Vec<u8> {
    let mut buffer = Vec::with_capacity(PREFIX + message_length);
    buffer.extend_from_slice(&[0; PREFIX]);
    buffer
}

/// The answer to a unary call: one message, then `grpc-status: 0`.
#[derive(Debug)]
pub struct Answer {
    /// What is left of the framed message.
    rest: Bytes,
    trailers_sent: bool,
}

impl Answer {
    /// `buffer` from [`answer_buffer`], the message written after its
    /// prefix, as an HTTP response; `None` for a message over 4 GiB, which
    /// no gRPC prefix can carry.
    pub fn framed(mut buffer: Vec<u8>) -> Option<http::Response<Self>> {
        let length = buffer.len().checked_sub(PREFIX)?;
        let length = u32::try_from(length).ok()?;
        buffer[0] = 0; // not compressed
        buffer[1..PREFIX].copy_from_slice(&length.to_be_bytes());
        let answer = Self {
            rest: Bytes::from(buffer),
            trailers_sent: false,
        };
        let mut response = http::Response::new(answer);
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/grpc"),
        );
        Some(response)
    }
}

impl Body for Answer {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if !this.rest.is_empty() {
            let cut = this.rest.len().min(MAX_DATA_FRAME);
            return Poll::Ready(Some(Ok(Frame::data(this.rest.split_to(cut)))));
        }
        if this.trailers_sent {
            return Poll::Ready(None);
        }
        this.trailers_sent = true;
        let mut trailers = http::HeaderMap::with_capacity(1);
        trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
        Poll::Ready(Some(Ok(Frame::trailers(trailers))))
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_empty() && self.trailers_sent
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.rest.len() as u64)
    }
}

#[cfg(test)]
mod tests;
