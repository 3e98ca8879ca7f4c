//! The hpack-test-case conformance corpus (<https://github.com/http2jp/hpack-test-case>):
//! header blocks produced by six other implementations' encoders, decoded by ours; and the raw
//! header lists encoded by our encoder and decoded back by our decoder.
//!
//! The corpus is found through `HPACK_TEST_CASE_DIR`, or else in `shared/hpack-test-case`
//! beside the repository checkout. If it is missing the tests fail: a conformance test that
//! silently reads nothing would be worse than none.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use grpc_transport::hpack::{Decoder, Encoder, HeaderField};
use serde_json::Value;

fn corpus_dir() -> PathBuf {
    let dir = match std::env::var_os("HPACK_TEST_CASE_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/hpack-test-case"
        )),
    };
    assert!(
        dir.is_dir(),
        "hpack-test-case corpus not found at {}: set HPACK_TEST_CASE_DIR to a checkout of \
         https://github.com/http2jp/hpack-test-case",
        dir.display()
    );
    dir
}

/// One story: a sequence of cases sharing one compression context.
struct Story {
    name: String,
    cases: Vec<Case>,
}

struct Case {
    /// SETTINGS_HEADER_TABLE_SIZE acknowledged just before this case, if given.
    header_table_size: Option<usize>,
    /// Hex-decoded header block (absent in raw-data).
    wire: Option<Bytes>,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
}

fn parse_hex(text: &str) -> Bytes {
    assert!(text.len() % 2 == 0, "odd hex length");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect::<Vec<u8>>()
        .into()
}

fn load_stories(folder: &str) -> Vec<Story> {
    let dir = corpus_dir().join(folder);
    let mut paths: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    paths.sort();
    paths.iter().map(|path| load_story(path)).collect()
}

fn load_story(path: &Path) -> Story {
    let json: Value = serde_json::from_slice(&fs::read(path).unwrap()).unwrap();
    let cases = json["cases"]
        .as_array()
        .unwrap_or_else(|| panic!("{}: no cases", path.display()))
        .iter()
        .map(|case| Case {
            // Some stories write `null`; like an absent field, that means "unchanged".
            header_table_size: case["header_table_size"].as_u64().map(|n| n as usize),
            wire: case["wire"].as_str().map(parse_hex),
            headers: case["headers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|header| {
                    let object = header.as_object().unwrap();
                    assert_eq!(object.len(), 1, "one field per object");
                    let (name, value) = object.iter().next().unwrap();
                    (
                        name.as_bytes().to_vec(),
                        value.as_str().unwrap().as_bytes().to_vec(),
                    )
                })
                .collect(),
        })
        .collect();
    Story {
        name: path.file_name().unwrap().to_string_lossy().into_owned(),
        cases,
    }
}

fn pairs(fields: &[HeaderField]) -> Vec<(Vec<u8>, Vec<u8>)> {
    fields
        .iter()
        .map(|f| (f.name.to_vec(), f.value.to_vec()))
        .collect()
}

/// Decodes every case of every story in `folder`; returns (stories, cases) seen.
fn decode_folder(folder: &str) -> (usize, usize) {
    let stories = load_stories(folder);
    let mut cases = 0;
    for story in &stories {
        let mut decoder = Decoder::new();
        for (seqno, case) in story.cases.iter().enumerate() {
            if let Some(size) = case.header_table_size {
                decoder.set_max_table_size_setting(size);
            }
            let wire = case.wire.as_ref().expect("case without wire");
            let mut fields = Vec::new();
            decoder
                .decode(wire, |field| fields.push(field))
                .unwrap_or_else(|e| panic!("{folder}/{} case {seqno}: {e}", story.name));
            assert_eq!(
                pairs(&fields),
                case.headers,
                "{folder}/{} case {seqno}",
                story.name
            );
            cases += 1;
        }
    }
    (stories.len(), cases)
}

#[test]
fn decodes_go_hpack_stories() {
    assert_eq!(decode_folder("go-hpack"), (32, 3384));
}

#[test]
fn decodes_haskell_http2_linear_huffman_stories() {
    assert_eq!(decode_folder("haskell-http2-linear-huffman"), (32, 3384));
}

#[test]
fn decodes_nghttp2_stories() {
    assert_eq!(decode_folder("nghttp2"), (32, 3384));
}

#[test]
fn decodes_nghttp2_change_table_size_stories() {
    assert_eq!(decode_folder("nghttp2-change-table-size"), (31, 3267));
}

#[test]
fn decodes_python_hpack_stories() {
    assert_eq!(decode_folder("python-hpack"), (32, 3384));
}

#[test]
fn decodes_swift_nio_hpack_huffman_stories() {
    assert_eq!(decode_folder("swift-nio-hpack-huffman"), (32, 3384));
}

#[test]
fn raw_data_stories_round_trip_through_our_encoder_and_decoder() {
    let stories = load_stories("raw-data");
    let mut cases = 0;
    let mut raw_bytes = 0usize;
    let mut encoded_bytes = 0usize;
    for story in &stories {
        let mut encoder = Encoder::new();
        let mut decoder = Decoder::new();
        for (seqno, case) in story.cases.iter().enumerate() {
            let fields: Vec<HeaderField> = case
                .headers
                .iter()
                .map(|(n, v)| HeaderField::new(n.clone(), v.clone()))
                .collect();
            let mut block = BytesMut::new();
            encoder.encode(&fields, &mut block);
            raw_bytes += fields
                .iter()
                .map(|f| f.name.len() + f.value.len())
                .sum::<usize>();
            encoded_bytes += block.len();

            let mut decoded = Vec::new();
            decoder
                .decode(&block.freeze(), |field| decoded.push(field))
                .unwrap_or_else(|e| panic!("raw-data/{} case {seqno}: {e}", story.name));
            assert_eq!(
                pairs(&decoded),
                case.headers,
                "raw-data/{} case {seqno}",
                story.name
            );
            assert!(
                encoder.dynamic_table().eq(decoder.dynamic_table()),
                "raw-data/{} case {seqno}: tables differ",
                story.name
            );
            cases += 1;
        }
    }
    assert_eq!((stories.len(), cases), (32, 3384));
    eprintln!(
        "raw-data: {cases} header lists, {raw_bytes} octets of names and values encoded to \
         {encoded_bytes} octets ({:.1}%)",
        100.0 * encoded_bytes as f64 / raw_bytes as f64
    );
}
