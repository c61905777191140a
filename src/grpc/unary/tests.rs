use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

/// A request body of the given frames; counts how many were taken.
struct Frames {
    frames: VecDeque<Result<Frame<Bytes>, std::io::Error>>,
    taken: Arc<AtomicUsize>,
}

impl Frames {
    fn of(chunks: &[&[u8]]) -> Self {
        Self::with(
            chunks
                .iter()
                .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
                .collect(),
        )
    }

    fn with(frames: VecDeque<Result<Frame<Bytes>, std::io::Error>>) -> Self {
        Self {
            frames,
            taken: Arc::default(),
        }
    }
}

impl Body for Frames {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let next = self.frames.pop_front();
        if next.is_some() {
            self.taken.fetch_add(1, Ordering::Relaxed);
        }
        Poll::Ready(next)
    }
}

fn framed(flag: u8, message: &[u8]) -> Vec<u8> {
    let mut bytes = vec![flag];
    bytes.extend_from_slice(&u32::try_from(message.len()).unwrap().to_be_bytes());
    bytes.extend_from_slice(message);
    bytes
}

fn read(body: Frames) -> Result<Bytes, DenyReason> {
    let budget = Semaphore::new(READ_BUDGET);
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(read_message(body, &budget))
}

#[test]
fn a_message_in_one_frame_is_read_without_a_copy() {
    let whole = Bytes::from(framed(0, b"check request"));
    let at = whole.as_ptr();
    let body = Frames::with(VecDeque::from([Ok(Frame::data(whole))]));
    let message = read(body).unwrap();
    assert_eq!(&message[..], b"check request");
    assert_eq!(message.as_ptr(), at.wrapping_add(PREFIX));
}

#[test]
fn a_message_cut_anywhere_reads_the_same() {
    let whole = framed(0, b"0123456789");
    for i in 0..=whole.len() {
        for j in i..=whole.len() {
            let (a, rest) = whole.split_at(i);
            let (b, c) = rest.split_at(j - i);
            // Empty DATA frames and trailers in between change nothing.
            let mut frames: VecDeque<_> = [a, b, b"", c]
                .iter()
                .map(|chunk| Ok(Frame::data(Bytes::copy_from_slice(chunk))))
                .collect();
            frames.push_back(Ok(Frame::trailers(http::HeaderMap::new())));
            assert_eq!(
                read(Frames::with(frames)).as_deref(),
                Ok(&b"0123456789"[..]),
                "cut at {i} and {j}"
            );
        }
    }
}

#[test]
fn an_empty_message_is_a_message() {
    assert_eq!(
        read(Frames::of(&[&framed(0, b"")])).as_deref(),
        Ok(&b""[..])
    );
}

#[test]
fn anything_but_one_whole_uncompressed_message_is_unreadable() {
    let message = framed(0, b"abc");
    let two = [framed(0, b"abc"), framed(0, b"def")].concat();
    let cases: [(&str, Vec<&[u8]>); 9] = [
        ("no body", vec![]),
        ("empty frames only", vec![b"", b""]),
        ("a prefix cut short", vec![&message[..3]]),
        ("a message cut short", vec![&message[..message.len() - 1]]),
        ("compressed", vec![&[1, 0, 0, 0, 2, 8, 1]]),
        ("no gRPC flag", vec![&[7, 0, 0, 0, 0]]),
        ("a byte after the message", vec![&message, b"x"]),
        ("a second message", vec![&two]),
        (
            "a second message in its own frame",
            vec![&message, &message],
        ),
    ];
    for (case, chunks) in cases {
        assert_eq!(
            read(Frames::of(&chunks)),
            Err(DenyReason::UnreadableRequest),
            "{case}"
        );
    }
}

#[test]
fn a_message_declared_too_large_is_refused_on_its_prefix() {
    let prefix = [0, 0, 0x40, 0, 1]; // MAX_MESSAGE + 1
    let body = Frames::of(&[&prefix, &[0; 1024], &[0; 1024]]);
    let taken = body.taken.clone();
    assert_eq!(read(body), Err(DenyReason::RequestTooLarge));
    assert_eq!(taken.load(Ordering::Relaxed), 1, "read past the prefix");
    let largest = framed(0, &vec![7; MAX_MESSAGE]);
    let message = read(Frames::of(&[&largest[..100], &largest[100..]])).unwrap();
    assert_eq!(message.len(), MAX_MESSAGE);
}

#[test]
fn bytes_past_the_message_are_refused_as_they_arrive() {
    let message = framed(0, b"abc");
    let body = Frames::of(&[&message, b"x", &[0; 1024]]);
    let taken = body.taken.clone();
    assert_eq!(read(body), Err(DenyReason::UnreadableRequest));
    assert_eq!(taken.load(Ordering::Relaxed), 2);
}

#[test]
fn a_stream_reset_midway_is_unreadable() {
    let frames = VecDeque::from([
        Ok(Frame::data(Bytes::from_static(&[0, 0, 0, 0, 3, 1]))),
        Err(std::io::Error::other("reset")),
    ]);
    assert_eq!(
        read(Frames::with(frames)),
        Err(DenyReason::UnreadableRequest)
    );
}

/// Every frame of `answer`: its data, then its trailers.
fn drain(mut answer: Answer) -> (Vec<Bytes>, Vec<http::HeaderMap>) {
    let mut cx = Context::from_waker(std::task::Waker::noop());
    let (mut data, mut trailers) = (Vec::new(), Vec::new());
    while let Poll::Ready(Some(Ok(frame))) = Pin::new(&mut answer).poll_frame(&mut cx) {
        match frame.into_data() {
            Ok(d) => data.push(d),
            Err(f) => trailers.push(f.into_trailers().unwrap()),
        }
    }
    assert!(answer.is_end_stream());
    (data, trailers)
}

#[test]
fn an_answer_leaves_in_short_frames_then_grpc_status_0() {
    for length in [0, 1, 250, 251, 700] {
        let message: Vec<u8> = (0..=255u8).cycle().take(length).collect();
        let mut buffer = answer_buffer(message.len());
        buffer.extend_from_slice(&message);
        let response = Answer::framed(buffer).unwrap();
        assert_eq!(response.headers()["content-type"], "application/grpc");
        assert_eq!(response.body().size_hint().exact(), Some(5 + length as u64));
        let (data, trailers) = drain(response.into_body());
        assert!(
            data.iter()
                .all(|d| !d.is_empty() && d.len() <= MAX_DATA_FRAME)
        );
        assert_eq!(data.concat(), framed(0, &message), "{length}");
        assert_eq!(trailers.len(), 1);
        assert_eq!(trailers[0].len(), 1);
        assert_eq!(trailers[0]["grpc-status"], "0");
    }
}

#[test]
fn a_buffer_without_room_for_the_prefix_is_no_answer() {
    assert!(Answer::framed(vec![0; 4]).is_none());
}

#[test]
fn a_message_in_several_frames_without_room_in_the_budget_is_busy_at_once() {
    let whole = framed(0, &[7; 100]);
    let (a, b) = whole.split_at(50);
    let budget = Semaphore::new(200);
    let others = budget.try_acquire_many(150).unwrap();
    let mut cx = Context::from_waker(std::task::Waker::noop());
    // 105 bytes copied together need room the other calls hold: denied,
    // not left waiting.
    let mut read = Box::pin(read_message(Frames::of(&[a, b]), &budget));
    assert!(matches!(
        read.as_mut().poll(&mut cx),
        Poll::Ready(Err(DenyReason::Busy))
    ));
    drop(others);
    let mut read = Box::pin(read_message(Frames::of(&[a, b]), &budget));
    match read.as_mut().poll(&mut cx) {
        Poll::Ready(Ok(message)) => assert_eq!(&message[..], &[7; 100]),
        other => panic!("{other:?}"),
    }
    // The room is given back once the message is read.
    assert_eq!(budget.available_permits(), 200);
}

#[test]
fn a_call_arrives_costing_its_headers_and_one_frame() {
    let mut headers = http::HeaderMap::new();
    assert_eq!(arrival_cost(&headers), MAX_FRAME);
    headers.insert("tracestate", "x".repeat(1000).parse().unwrap());
    headers.append("te", "trailers".parse().unwrap());
    assert_eq!(
        arrival_cost(&headers),
        MAX_FRAME + (10 + 1000 + 32) + (2 + 8 + 32)
    );
}

#[test]
fn a_message_in_one_frame_takes_nothing_from_the_budget() {
    let budget = Semaphore::new(0);
    let mut read = Box::pin(read_message(Frames::of(&[&framed(0, b"abc")]), &budget));
    let mut cx = Context::from_waker(std::task::Waker::noop());
    assert!(matches!(read.as_mut().poll(&mut cx), Poll::Ready(Ok(_))));
}
