//! Frame layer throughput: parsing from a read buffer and encoding into a reusable one.
//!
//! Parse benchmarks take a batch of identical frames off a fresh copy of a wire buffer
//! (the copy is made outside the timed part); divide the reported time by the batch size
//! for ns/frame. DATA benchmarks report bytes per second of frame octets, the rest
//! frames per second.

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use grpc_transport::frame::{
    Data, Frame, Headers, MAX_FRAME_SIZE_LIMIT, Ping, Settings, StreamId, WindowUpdate, parse_frame,
};

/// Frames per parse batch.
const BATCH: usize = 64;

fn stream(n: u32) -> StreamId {
    StreamId::new(n).unwrap_or(StreamId::MAX)
}

fn data(len: usize) -> Frame {
    let payload = Bytes::from((0..len).map(|i| i as u8).collect::<Vec<_>>());
    match Data::new(stream(1), payload) {
        Ok(frame) => frame.into(),
        Err(err) => panic!("benchmark setup: {err}"),
    }
}

fn headers(fragment_len: usize, end_stream: bool) -> Frame {
    let fragment = Bytes::from(vec![0x82; fragment_len]);
    match Headers::new(stream(1), fragment) {
        Ok(frame) => frame.with_end_stream(end_stream).into(),
        Err(err) => panic!("benchmark setup: {err}"),
    }
}

fn settings() -> Frame {
    let settings = Settings::new()
        .with_header_table_size(4096)
        .with_enable_push(false)
        .with_max_concurrent_streams(100)
        .with_initial_window_size(1 << 20)
        .and_then(|s| s.with_max_frame_size(1 << 20))
        .map(|s| s.with_max_header_list_size(16 << 10));
    match settings {
        Ok(settings) => settings.into(),
        Err(err) => panic!("benchmark setup: {err}"),
    }
}

fn window_update() -> Frame {
    match WindowUpdate::new(stream(1), 65_535) {
        Ok(frame) => frame.into(),
        Err(err) => panic!("benchmark setup: {err}"),
    }
}

/// The frames a client reads for one unary call: response HEADERS, one DATA message,
/// trailers, plus the WINDOW_UPDATE and PING a server typically interleaves.
fn unary_exchange() -> Vec<Frame> {
    vec![
        headers(40, false),
        data(100),
        headers(20, true),
        window_update(),
        Ping::new(*b"keepaliv").into(),
    ]
}

fn wire(frames: &[Frame], copies: usize) -> Bytes {
    let mut buf = BytesMut::new();
    for _ in 0..copies {
        for frame in frames {
            frame.encode(&mut buf);
        }
    }
    buf.freeze()
}

fn bench_parse(c: &mut Criterion, name: &str, frames: &[Frame], throughput_bytes: bool) {
    let copies = BATCH.div_ceil(frames.len());
    let count = copies * frames.len();
    let wire = wire(frames, copies);
    let mut group = c.benchmark_group("parse");
    group.throughput(if throughput_bytes {
        Throughput::Bytes(wire.len() as u64)
    } else {
        Throughput::Elements(count as u64)
    });
    group.bench_function(format!("{name} x{count}"), |b| {
        b.iter_batched(
            || BytesMut::from(&wire[..]),
            |mut buf| {
                let mut parsed = 0;
                while let Ok(Some(frame)) = parse_frame(&mut buf, MAX_FRAME_SIZE_LIMIT) {
                    black_box(&frame);
                    parsed += 1;
                }
                assert_eq!(parsed, count);
            },
            BatchSize::LargeInput,
        );
    });
    group.finish();
}

fn bench_encode(c: &mut Criterion, name: &str, frame: &Frame, throughput_bytes: bool) {
    let mut group = c.benchmark_group("encode");
    group.throughput(if throughput_bytes {
        Throughput::Bytes(frame.encoded_len() as u64)
    } else {
        Throughput::Elements(1)
    });
    let mut dst = BytesMut::with_capacity(frame.encoded_len());
    group.bench_function(name, |b| {
        b.iter(|| {
            dst.clear();
            black_box(frame).encode(&mut dst);
            black_box(&dst);
        });
    });
    group.finish();
}

fn parse(c: &mut Criterion) {
    bench_parse(c, "DATA 16KiB", &[data(16 << 10)], true);
    bench_parse(c, "DATA 100B", &[data(100)], true);
    bench_parse(c, "HEADERS 200B", &[headers(200, false)], false);
    bench_parse(c, "SETTINGS x6", &[settings()], false);
    bench_parse(c, "PING", &[Ping::new(*b"01234567").into()], false);
    bench_parse(c, "WINDOW_UPDATE", &[window_update()], false);
    bench_parse(c, "unary exchange (5 frames)", &unary_exchange(), false);
}

fn encode(c: &mut Criterion) {
    bench_encode(c, "DATA 16KiB (copying)", &data(16 << 10), true);
    bench_encode(c, "DATA 100B (copying)", &data(100), true);
    let big = data(16 << 10);
    let mut group = c.benchmark_group("encode");
    if let Frame::Data(frame) = &big {
        let mut dst = BytesMut::with_capacity(16);
        group.throughput(Throughput::Bytes(frame.encoded_len() as u64));
        group.bench_function(
            "DATA 16KiB (encode_head only, payload sent by vectored write)",
            |b| {
                b.iter(|| {
                    dst.clear();
                    black_box(frame).encode_head(&mut dst);
                    black_box(&dst);
                });
            },
        );
    }
    group.finish();
    bench_encode(c, "HEADERS 200B", &headers(200, false), false);
    bench_encode(c, "SETTINGS x6", &settings(), false);
    bench_encode(c, "PING", &Ping::new(*b"01234567").into(), false);
    bench_encode(c, "WINDOW_UPDATE", &window_update(), false);
    let exchange = unary_exchange();
    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Elements(exchange.len() as u64));
    let mut dst = BytesMut::with_capacity(1024);
    group.bench_function("unary exchange (5 frames)", |b| {
        b.iter(|| {
            dst.clear();
            for frame in black_box(&exchange) {
                frame.encode(&mut dst);
            }
            black_box(&dst);
        });
    });
    group.finish();
}

criterion_group!(benches, parse, encode);
criterion_main!(benches);
