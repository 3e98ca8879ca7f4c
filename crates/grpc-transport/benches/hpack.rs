//! HPACK benchmarks: ours side by side with the published `fluke-hpack` and `httlib-hpack`
//! crates, on the same inputs in the same criterion group.
//!
//! Groups:
//! - `huffman_decode`: Huffman-coded header strings (a realistic mix, and a ~4 KiB text).
//!   `direct/*` calls each crate's Huffman decoder directly; httlib-hpack does not export its
//!   Huffman decoder (it lives in the `httlib-huffman` crate, which we do not depend on), so
//!   `block/*` wraps every string in a literal-without-indexing field and decodes that block
//!   with each crate's HPACK decoder, which measures all three through the same path.
//!   Throughput is Huffman-coded input bytes.
//! - `hpack_decode`: gRPC request headers, and response headers + trailers, cold (fresh
//!   decoder) and warm (dynamic table already holds the entries, as on the 2nd+ RPC of a
//!   connection), with and without Huffman. Every decoder produces an owned header list (ours:
//!   `HeaderField`s with `Bytes`; fluke: `decode_with_cb` copying into `Vec`s, which is what its
//!   own `decode` does; httlib: its `decode`, which returns `Vec`s and consumes its input, so
//!   each iteration gets a fresh copy of the block from an untimed setup). For the warm cases
//!   `fluke_borrow_only` also shows fluke with a callback that only looks at the borrowed
//!   fields: less work than the others do, listed so the comparison is not flattering.
//! - `hpack_encode`: the same header lists, warm table. httlib's encoder only accepts owned
//!   `Vec<u8>` name/value pairs, so its numbers include copying each field into two `Vec`s;
//!   fluke's encoder never uses Huffman, ours and httlib's do.
//!
//! The blocks are produced by our encoder; at start-up each peer's decoding of every block is
//! checked against the header list, so all three do the same work.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use grpc_transport::hpack::{Decoder, Encoder, HeaderField, huffman};

fn request_headers() -> Vec<HeaderField> {
    vec![
        HeaderField::new(":method", "POST"),
        HeaderField::new(":scheme", "http"),
        HeaderField::new(":path", "/helloworld.Greeter/SayHello"),
        HeaderField::new(":authority", "greeter.internal.example.com:50051"),
        HeaderField::new("content-type", "application/grpc"),
        HeaderField::new("te", "trailers"),
        HeaderField::new("grpc-timeout", "9995m"),
        HeaderField::new("grpc-accept-encoding", "identity,deflate,gzip"),
        HeaderField::new("user-agent", "grpc-rust/0.1.0 (linux; x86_64)"),
        HeaderField::new("x-tenant-id", "acme-production-eu-west-1"),
        HeaderField::new(
            "x-request-context-bin",
            "CgR1c2VyEgdhY21lLWlkGhBmZWF0dXJlLWZsYWdzLW9u",
        ),
    ]
}

fn response_headers() -> Vec<HeaderField> {
    vec![
        HeaderField::new(":status", "200"),
        HeaderField::new("content-type", "application/grpc"),
        HeaderField::new("grpc-accept-encoding", "identity,deflate,gzip"),
    ]
}

fn response_trailers() -> Vec<HeaderField> {
    vec![
        HeaderField::new("grpc-status", "0"),
        HeaderField::new("grpc-message", "OK"),
    ]
}

/// Header values of the kind browsers, proxies and RPC stacks send.
const MIX: &[&str] = &[
    "www.example.com",
    "greeter.internal.example.com:50051",
    "/helloworld.Greeter/SayHello",
    "/api/v1/users/12345/profile?include=settings&lang=en-US",
    "application/grpc",
    "application/json; charset=utf-8",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8",
    "gzip, deflate, br",
    "en-US,en;q=0.9,de;q=0.8",
    "Mon, 21 Oct 2013 20:13:21 GMT",
    "max-age=31536000; includeSubDomains; preload",
    "session=8f14e45fceea167a5a36dedd4bea2543; theme=dark; _ga=GA1.2.1234567890.1700000000",
    "grpc-go/1.62.0",
    "identity,deflate,gzip",
    "no-cache",
    "\"33a64df551425fcc55e4d42a148795d9f25f89d4\"",
    "https://www.example.com/search?q=hpack+huffman+decoder&source=hp",
    "CgR1c2VyEgdhY21lLWlkGhBmZWF0dXJlLWZsYWdzLW9u",
    "private, max-age=0, must-revalidate",
];

/// About 4 KiB of English text.
fn long_text() -> String {
    let paragraph = "Header compression keeps the cost of a request low when most of its fields \
        repeat from one request to the next. The encoder and the decoder each keep a table of \
        recent fields, and a field seen before is sent as a small index. New values are sent \
        as literals, usually Huffman coded with a static code that favours lower case letters, \
        digits and common punctuation. ";
    let mut text = String::new();
    while text.len() < 4096 {
        text.push_str(paragraph);
    }
    text.truncate(4096);
    text
}

fn huffman_encode(text: &[u8]) -> Vec<u8> {
    let mut dst = BytesMut::new();
    huffman::encode(text, &mut dst);
    dst.to_vec()
}

/// A block with one literal-without-indexing field per string, name index 1, value Huffman.
fn huffman_block(strings: &[Vec<u8>]) -> Vec<u8> {
    let mut block = BytesMut::new();
    for encoded in strings {
        block.extend_from_slice(&[0x01]);
        grpc_transport::hpack::integer::encode(encoded.len(), 7, 0x80, &mut block);
        block.extend_from_slice(encoded);
    }
    block.to_vec()
}

fn bench_huffman_decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("huffman_decode");
    group.measurement_time(Duration::from_secs(3));
    let text = long_text();
    let inputs: Vec<(&str, Vec<&[u8]>)> = vec![
        ("mix", MIX.iter().map(|s| s.as_bytes()).collect()),
        ("text_4k", vec![text.as_bytes()]),
    ];
    for (name, plain) in &inputs {
        let encoded: Vec<Vec<u8>> = plain.iter().map(|s| huffman_encode(s)).collect();
        let encoded_bytes: usize = encoded.iter().map(Vec::len).sum();
        group.throughput(Throughput::Bytes(encoded_bytes as u64));

        // Sanity: every decoder agrees.
        let mut fluke = fluke_hpack::huffman::HuffmanDecoder::new();
        for (e, p) in encoded.iter().zip(plain) {
            assert_eq!(fluke.decode(e).unwrap(), *p);
        }

        group.bench_function(BenchmarkId::new("direct/ours", name), |b| {
            let mut out = BytesMut::with_capacity(8192);
            b.iter(|| {
                for e in &encoded {
                    out.clear();
                    huffman::decode(black_box(e), &mut out).unwrap();
                    black_box(&out);
                }
            })
        });
        group.bench_function(BenchmarkId::new("direct/fluke", name), |b| {
            let mut decoder = fluke_hpack::huffman::HuffmanDecoder::new();
            b.iter(|| {
                for e in &encoded {
                    black_box(decoder.decode(black_box(e)).unwrap());
                }
            })
        });

        let block = huffman_block(&encoded);
        group.throughput(Throughput::Bytes(block.len() as u64));
        let block_bytes = Bytes::from(block.clone());
        group.bench_function(BenchmarkId::new("block/ours", name), |b| {
            let mut decoder = Decoder::new();
            b.iter(|| {
                decoder
                    .decode(black_box(&block_bytes), |field| {
                        black_box(field);
                    })
                    .unwrap()
            })
        });
        group.bench_function(BenchmarkId::new("block/fluke", name), |b| {
            let mut decoder = fluke_hpack::Decoder::new();
            b.iter(|| {
                decoder
                    .decode_with_cb(black_box(&block), |n, v| {
                        black_box((n, v));
                    })
                    .unwrap()
            })
        });
        group.bench_function(BenchmarkId::new("block/httlib", name), |b| {
            let mut decoder = httlib_hpack::Decoder::default();
            let mut dst = Vec::new();
            b.iter_batched_ref(
                || block.clone(),
                |input| {
                    dst.clear();
                    decoder.decode(input, &mut dst).unwrap();
                    black_box(&dst);
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

/// The blocks a connection would carry for `lists`: first (cold) and second (warm) encoding.
struct Blocks {
    cold: Vec<Vec<u8>>,
    warm: Vec<Vec<u8>>,
}

fn encode_blocks(lists: &[Vec<HeaderField>], huffman: bool) -> Blocks {
    let mut encoder = Encoder::new();
    encoder.set_huffman(huffman);
    let encode_all = |encoder: &mut Encoder| {
        lists
            .iter()
            .map(|list| {
                let mut dst = BytesMut::new();
                encoder.encode(list, &mut dst);
                dst.to_vec()
            })
            .collect::<Vec<_>>()
    };
    let cold = encode_all(&mut encoder);
    let warm = encode_all(&mut encoder);
    Blocks { cold, warm }
}

fn pairs(list: &[HeaderField]) -> Vec<(Vec<u8>, Vec<u8>)> {
    list.iter()
        .map(|f| (f.name.to_vec(), f.value.to_vec()))
        .collect()
}

fn ours_decode(decoder: &mut Decoder, blocks: &[Bytes], out: &mut Vec<HeaderField>) {
    for block in blocks {
        decoder.decode(block, |field| out.push(field)).unwrap();
    }
}

fn fluke_decode(
    decoder: &mut fluke_hpack::Decoder<'static>,
    blocks: &[Vec<u8>],
    out: &mut Vec<(Vec<u8>, Vec<u8>)>,
) {
    for block in blocks {
        decoder
            .decode_with_cb(block, |n, v| out.push((n.into_owned(), v.into_owned())))
            .unwrap();
    }
}

fn httlib_decode(
    decoder: &mut httlib_hpack::Decoder<'static>,
    blocks: &mut [Vec<u8>],
    out: &mut Vec<(Vec<u8>, Vec<u8>, u8)>,
) {
    for block in blocks {
        decoder.decode(block, out).unwrap();
    }
}

fn bench_hpack_decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("hpack_decode");
    group.measurement_time(Duration::from_secs(3));
    let scenarios = [
        ("request", vec![request_headers()]),
        ("response", vec![response_headers(), response_trailers()]),
    ];
    for (scenario, lists) in &scenarios {
        let expected: Vec<(Vec<u8>, Vec<u8>)> = lists.iter().flat_map(|l| pairs(l)).collect();
        for huffman in [true, false] {
            let blocks = encode_blocks(lists, huffman);
            for (temperature, wire) in [("cold", &blocks.cold), ("warm", &blocks.warm)] {
                let id = format!(
                    "{scenario}/{temperature}/{}",
                    if huffman { "huffman" } else { "raw" }
                );
                let warm = temperature == "warm";
                let wire_bytes: Vec<Bytes> = wire.iter().cloned().map(Bytes::from).collect();
                let cold_bytes: Vec<Bytes> = blocks.cold.iter().cloned().map(Bytes::from).collect();
                group.throughput(Throughput::Bytes(
                    wire.iter().map(Vec::len).sum::<usize>() as u64
                ));

                // Fresh decoders, warmed with the cold blocks if this is the warm case; every
                // peer is checked against the header list here.
                let new_ours = || {
                    let mut decoder = Decoder::new();
                    if warm {
                        ours_decode(&mut decoder, &cold_bytes, &mut Vec::new());
                    }
                    decoder
                };
                let new_fluke = || {
                    let mut decoder = fluke_hpack::Decoder::new();
                    if warm {
                        fluke_decode(&mut decoder, &blocks.cold, &mut Vec::new());
                    }
                    decoder
                };
                let new_httlib = || {
                    let mut decoder = httlib_hpack::Decoder::default();
                    if warm {
                        httlib_decode(&mut decoder, &mut blocks.cold.clone(), &mut Vec::new());
                    }
                    decoder
                };
                {
                    let mut out = Vec::new();
                    ours_decode(&mut new_ours(), &wire_bytes, &mut out);
                    let got: Vec<_> = out
                        .iter()
                        .map(|f| (f.name.to_vec(), f.value.to_vec()))
                        .collect();
                    assert_eq!(got, expected, "ours {id}");
                    let mut out = Vec::new();
                    fluke_decode(&mut new_fluke(), wire, &mut out);
                    assert_eq!(out, expected, "fluke {id}");
                    let mut out = Vec::new();
                    httlib_decode(&mut new_httlib(), &mut wire.clone(), &mut out);
                    let got: Vec<_> = out.into_iter().map(|(n, v, _)| (n, v)).collect();
                    assert_eq!(got, expected, "httlib {id}");
                }

                if warm {
                    // The warm blocks only reference the table (plus a churning literal), so
                    // decoding them repeatedly leaves the decoder's state unchanged.
                    group.bench_function(BenchmarkId::new("ours", &id), |b| {
                        let mut decoder = new_ours();
                        let mut out = Vec::with_capacity(16);
                        b.iter(|| {
                            out.clear();
                            ours_decode(&mut decoder, black_box(&wire_bytes), &mut out);
                            black_box(&out);
                        })
                    });
                    group.bench_function(BenchmarkId::new("fluke", &id), |b| {
                        let mut decoder = new_fluke();
                        let mut out = Vec::with_capacity(16);
                        b.iter(|| {
                            out.clear();
                            fluke_decode(&mut decoder, black_box(wire), &mut out);
                            black_box(&out);
                        })
                    });
                    // Not the same output: fluke's callback only borrows the fields, which is
                    // cheaper but useless to a caller that must keep them. Shown for honesty.
                    group.bench_function(BenchmarkId::new("fluke_borrow_only", &id), |b| {
                        let mut decoder = new_fluke();
                        b.iter(|| {
                            for block in black_box(wire) {
                                decoder
                                    .decode_with_cb(block, |n, v| {
                                        black_box((n, v));
                                    })
                                    .unwrap();
                            }
                        })
                    });
                    group.bench_function(BenchmarkId::new("httlib", &id), |b| {
                        let mut decoder = new_httlib();
                        let mut out = Vec::with_capacity(16);
                        b.iter_batched_ref(
                            || wire.clone(),
                            |input| {
                                out.clear();
                                httlib_decode(&mut decoder, input, &mut out);
                                black_box(&out);
                            },
                            BatchSize::SmallInput,
                        )
                    });
                } else {
                    // Cold: a new connection's decoder is created, decodes its first block(s)
                    // and is dropped, all inside the timed routine (timing only the decode
                    // while thousands of fresh decoders pile up in a batch would mostly
                    // measure page faults).
                    group.bench_function(BenchmarkId::new("ours", &id), |b| {
                        let mut out = Vec::with_capacity(16);
                        b.iter(|| {
                            out.clear();
                            let mut decoder = Decoder::new();
                            ours_decode(&mut decoder, black_box(&wire_bytes), &mut out);
                            black_box(&out);
                        })
                    });
                    group.bench_function(BenchmarkId::new("fluke", &id), |b| {
                        let mut out = Vec::with_capacity(16);
                        b.iter(|| {
                            out.clear();
                            let mut decoder = fluke_hpack::Decoder::new();
                            fluke_decode(&mut decoder, black_box(wire), &mut out);
                            black_box(&out);
                        })
                    });
                    group.bench_function(BenchmarkId::new("httlib", &id), |b| {
                        let mut out = Vec::with_capacity(16);
                        b.iter_batched_ref(
                            || wire.clone(),
                            |input| {
                                out.clear();
                                let mut decoder = httlib_hpack::Decoder::default();
                                httlib_decode(&mut decoder, input, &mut out);
                                black_box(&out);
                            },
                            BatchSize::SmallInput,
                        )
                    });
                }
            }
        }
    }
    group.finish();
}

fn bench_hpack_encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("hpack_encode");
    group.measurement_time(Duration::from_secs(3));
    let scenarios = [
        ("request", vec![request_headers()]),
        ("response", vec![response_headers(), response_trailers()]),
    ];
    for (scenario, lists) in &scenarios {
        let raw: usize = lists
            .iter()
            .flatten()
            .map(|f| f.name.len() + f.value.len())
            .sum();
        group.throughput(Throughput::Bytes(raw as u64));
        let id = format!("{scenario}/warm");
        let owned: Vec<Vec<(Vec<u8>, Vec<u8>)>> = lists.iter().map(|l| pairs(l)).collect();

        group.bench_function(BenchmarkId::new("ours", &id), |b| {
            let mut encoder = Encoder::new();
            let mut dst = BytesMut::with_capacity(1024);
            for list in lists {
                encoder.encode(list, &mut dst);
            }
            b.iter(|| {
                dst.clear();
                for list in lists {
                    encoder.encode(black_box(list), &mut dst);
                }
                black_box(&dst);
            })
        });
        group.bench_function(BenchmarkId::new("fluke", &id), |b| {
            let mut encoder = fluke_hpack::Encoder::new();
            let mut dst = Vec::with_capacity(1024);
            let encode = |encoder: &mut fluke_hpack::Encoder<'static>, dst: &mut Vec<u8>| {
                for list in &owned {
                    encoder
                        .encode_into(list.iter().map(|(n, v)| (&n[..], &v[..])), dst)
                        .unwrap();
                }
            };
            encode(&mut encoder, &mut dst);
            b.iter(|| {
                dst.clear();
                encode(&mut encoder, black_box(&mut dst));
                black_box(&dst);
            })
        });
        group.bench_function(BenchmarkId::new("httlib", &id), |b| {
            let mut encoder = httlib_hpack::Encoder::default();
            let flags = httlib_hpack::Encoder::HUFFMAN_VALUE
                | httlib_hpack::Encoder::WITH_INDEXING
                | httlib_hpack::Encoder::BEST_FORMAT;
            let mut dst = Vec::with_capacity(1024);
            let encode = |encoder: &mut httlib_hpack::Encoder<'static>, dst: &mut Vec<u8>| {
                for list in &owned {
                    for (n, v) in list {
                        encoder.encode((n.clone(), v.clone(), flags), dst).unwrap();
                    }
                }
            };
            encode(&mut encoder, &mut dst);
            b.iter(|| {
                dst.clear();
                encode(&mut encoder, black_box(&mut dst));
                black_box(&dst);
            })
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    bench_huffman_decode,
    bench_hpack_decode,
    bench_hpack_encode
);
criterion_main!(benches);
