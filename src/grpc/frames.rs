//! Short DATA frames for `Check` responses.
//!
//! h2 copies a DATA payload shorter than 256 bytes into its write buffer,
//! but keeps a longer one aside and must write it out before it can buffer
//! another frame. An allow response (identity headers, headers to remove,
//! dynamic metadata) is usually longer than that, so its trailers waited for
//! a second `writev`, and under load no two responses could share one: the
//! syscalls alone cost more CPU per Check than the decision. Cutting each
//! message into frames under that size lets headers, data and trailers of
//! many responses leave in one write. A gRPC message may span any number of
//! DATA frames, so Envoy reads the same bytes.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_util::TryFutureExt;
use futures_util::future::MapOk;
use http_body::{Frame, SizeHint};
use tonic::body::Body;
use tonic::codegen::{Bytes, Service, http};
use tonic::server::NamedService;

/// The largest DATA payload h2 still copies into its write buffer (its
/// chaining threshold is 256 bytes).
pub const MAX_DATA_FRAME: usize = 255;

type Respond = fn(http::Response<Body>) -> http::Response<Body>;

/// A gRPC service whose response bodies leave in short DATA frames.
#[derive(Clone, Debug)]
pub struct ShortFrames<S>(S);

impl<S> ShortFrames<S> {
    /// Wraps `service`.
    pub fn new(service: S) -> Self {
        Self(service)
    }
}

impl<S: NamedService> NamedService for ShortFrames<S> {
    const NAME: &'static str = S::NAME;
}

impl<S> Service<http::Request<Body>> for ShortFrames<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = MapOk<S::Future, Respond>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let respond: Respond = |response| response.map(|body| Body::new(ShortDataBody::new(body)));
        self.0.call(request).map_ok(respond)
    }
}

/// A body whose data chunks are at most [`MAX_DATA_FRAME`] bytes; trailers
/// and every byte pass through unchanged, in order.
#[derive(Debug)]
pub struct ShortDataBody<B> {
    inner: B,
    /// What is left of the chunk being cut.
    rest: Bytes,
}

impl<B> ShortDataBody<B> {
    /// Wraps `inner`.
    pub fn new(inner: B) -> Self {
        Self {
            inner,
            rest: Bytes::new(),
        }
    }

    fn cut(&mut self, mut chunk: Bytes) -> Frame<Bytes> {
        if chunk.len() > MAX_DATA_FRAME {
            self.rest = chunk.split_off(MAX_DATA_FRAME);
        }
        Frame::data(chunk)
    }
}

impl<B> http_body::Body for ShortDataBody<B>
where
    B: http_body::Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if !this.rest.is_empty() {
            let rest = std::mem::take(&mut this.rest);
            return Poll::Ready(Some(Ok(this.cut(rest))));
        }
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        Poll::Ready(frame.map(|frame| {
            frame.map(|frame| match frame.into_data() {
                Ok(chunk) => this.cut(chunk),
                Err(other) => other,
            })
        }))
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_empty() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let inner = self.inner.size_hint();
        let rest = self.rest.len() as u64;
        let mut hint = SizeHint::new();
        hint.set_lower(inner.lower().saturating_add(rest));
        if let Some(upper) = inner.upper() {
            hint.set_upper(upper.saturating_add(rest));
        }
        hint
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body::Body as _;

    /// A body of the given chunks, then trailers.
    struct Chunks(Vec<Frame<Bytes>>);

    impl http_body::Body for Chunks {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            if self.0.is_empty() {
                Poll::Ready(None)
            } else {
                Poll::Ready(Some(Ok(self.0.remove(0))))
            }
        }

        fn is_end_stream(&self) -> bool {
            self.0.is_empty()
        }
    }

    fn drain(mut body: ShortDataBody<Chunks>) -> (Vec<Bytes>, usize) {
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let (mut data, mut trailers) = (Vec::new(), 0);
        while let Poll::Ready(Some(Ok(frame))) = Pin::new(&mut body).poll_frame(&mut cx) {
            match frame.into_data() {
                Ok(d) => data.push(d),
                Err(f) => {
                    assert!(f.is_trailers());
                    trailers += 1;
                }
            }
        }
        assert!(body.is_end_stream());
        (data, trailers)
    }

    #[test]
    fn long_chunks_are_cut_and_nothing_is_lost() {
        let message: Vec<u8> = (0..=255u8).cycle().take(700).collect();
        let mut trailers = http::HeaderMap::new();
        trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
        let body = ShortDataBody::new(Chunks(vec![
            Frame::data(Bytes::from(message.clone())),
            Frame::data(Bytes::from_static(b"tail")),
            Frame::trailers(trailers),
        ]));
        let (data, trailers) = drain(body);
        let lengths: Vec<usize> = data.iter().map(Bytes::len).collect();
        assert_eq!(lengths, [255, 255, 190, 4]);
        assert_eq!(data.concat()[..700], message[..]);
        assert_eq!(&data.concat()[700..], b"tail");
        assert_eq!(trailers, 1);
    }

    #[test]
    fn short_chunks_and_empty_bodies_pass_unchanged() {
        let body = ShortDataBody::new(Chunks(vec![Frame::data(Bytes::from_static(&[7; 255]))]));
        assert_eq!(body.size_hint().lower(), 0);
        let (data, trailers) = drain(body);
        assert_eq!(data, [Bytes::from_static(&[7; 255])]);
        assert_eq!(trailers, 0);
        let (data, _) = drain(ShortDataBody::new(Chunks(Vec::new())));
        assert!(data.is_empty());
    }
}
