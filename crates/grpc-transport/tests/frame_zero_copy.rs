//! The parse path does not copy payloads and does not allocate per frame; encoding into a
//! buffer with room does not allocate at all.
//!
//! Allocations are counted by a global allocator that wraps the system one and counts,
//! per thread, how many allocations were made (tests run on parallel threads).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bytes::{Bytes, BytesMut};
use grpc_transport::ErrorCode;
use grpc_transport::frame::{
    Continuation, DEFAULT_MAX_FRAME_SIZE, Data, Flags, Frame, FrameType, GoAway, Headers, Ping,
    PrioritySpec, Settings, StreamId, Unknown, WindowUpdate, parse_frame,
};

struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// `GlobalAlloc` contract holds exactly as it does for `System`. Counting touches only a
// const-initialised thread-local `Cell`, which never allocates.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: same contract as our caller's: `layout` has non-zero size.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` (through `alloc`/`realloc`) with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: forwarded unchanged; `ptr` came from `System` with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

fn id(n: u32) -> StreamId {
    StreamId::new(n).unwrap()
}

/// A read buffer holding one frame of each payload-carrying type.
fn wire() -> BytesMut {
    let mut buf = BytesMut::with_capacity(4096);
    Data::new(id(1), Bytes::from_static(b"grpc message"))
        .unwrap()
        .with_padding(7)
        .encode(&mut buf);
    Headers::new(id(3), Bytes::from_static(b"\x82\x86\x84"))
        .unwrap()
        .with_priority(PrioritySpec {
            exclusive: false,
            dependency: id(1),
            weight: 9,
        })
        .unwrap()
        .with_end_headers(false)
        .encode(&mut buf);
    Continuation::new(id(3), Bytes::from_static(b"\x41\x8a"))
        .unwrap()
        .encode(&mut buf);
    GoAway::new(id(3), ErrorCode::NO_ERROR)
        .with_debug_data(Bytes::from_static(b"bye"))
        .encode(&mut buf);
    Unknown::new(FrameType(0xbb), Flags(1), id(0), Bytes::from_static(b"ext"))
        .unwrap()
        .encode(&mut buf);
    buf
}

#[test]
fn parsed_payloads_point_into_the_read_buffer() {
    let mut buf = wire();
    let start = buf.as_ptr() as usize;
    let end = start + buf.len();
    let inside = |bytes: &Bytes, expected: &[u8]| {
        assert_eq!(&bytes[..], expected);
        let at = bytes.as_ptr() as usize;
        assert!(
            start <= at && at + bytes.len() <= end,
            "payload {expected:?} was copied"
        );
    };

    let mut next = || {
        parse_frame(&mut buf, DEFAULT_MAX_FRAME_SIZE)
            .unwrap()
            .unwrap()
    };
    let Frame::Data(data) = next() else {
        panic!("DATA expected")
    };
    inside(data.data(), b"grpc message");
    let Frame::Headers(headers) = next() else {
        panic!("HEADERS expected")
    };
    inside(headers.fragment(), b"\x82\x86\x84");
    let Frame::Continuation(cont) = next() else {
        panic!("CONTINUATION expected")
    };
    inside(cont.fragment(), b"\x41\x8a");
    let Frame::GoAway(go_away) = next() else {
        panic!("GOAWAY expected")
    };
    inside(go_away.debug_data(), b"bye");
    let Frame::Unknown(unknown) = next() else {
        panic!("unknown frame expected")
    };
    inside(unknown.payload(), b"ext");
}

#[test]
fn parsing_many_frames_allocates_at_most_once_per_buffer() {
    let mut one_round = wire();
    Settings::new()
        .with_initial_window_size(1 << 20)
        .unwrap()
        .encode(&mut one_round);
    Ping::new([1; 8]).encode(&mut one_round);
    WindowUpdate::new(id(1), 100)
        .unwrap()
        .encode(&mut one_round);
    let mut buf = BytesMut::with_capacity(one_round.len() * 100);
    for _ in 0..100 {
        buf.extend_from_slice(&one_round);
    }

    let mut frames = 0;
    let allocations = allocations_during(|| {
        while let Some(frame) = parse_frame(&mut buf, DEFAULT_MAX_FRAME_SIZE).unwrap() {
            frames += 1;
            drop(frame);
        }
    });
    assert_eq!(frames, 800);
    // `bytes` allocates one shared header the first time a BytesMut is split; after that,
    // every frame is a reference-counted view into the same allocation.
    assert!(
        allocations <= 1,
        "{allocations} allocations for {frames} frames"
    );
}

#[test]
fn encoding_into_a_buffer_with_room_does_not_allocate() {
    let mut read = wire();
    let mut frames = Vec::new();
    while let Some(frame) = parse_frame(&mut read, DEFAULT_MAX_FRAME_SIZE).unwrap() {
        frames.push(frame);
    }
    frames.push(Settings::new().with_max_concurrent_streams(100).into());
    frames.push(Ping::pong([2; 8]).into());
    let mut out = BytesMut::with_capacity(64 * 1024);
    let allocations = allocations_during(|| {
        for _ in 0..100 {
            for frame in &frames {
                frame.encode(&mut out);
            }
            out.clear();
        }
    });
    assert_eq!(allocations, 0);
}
