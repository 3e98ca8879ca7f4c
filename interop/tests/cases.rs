//! Every case of our interop client against our interop server, in process, over plaintext
//! and over TLS (the repository's test certificate).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use grpc_interop::client::{Case, ClientOptions, Outcome, run_case, run_cases};

use common::TestServer;

/// What a case should come to.
#[derive(Clone, Copy, Debug)]
enum Expect {
    Pass,
    /// A SKIP whose reason starts with this.
    Skip(&'static str),
}

async fn check(case: Case, tls: bool, expect: Expect) {
    let server = TestServer::start(tls).await;
    let outcome = run_case(&server.client_options(), case).await;
    assert_outcome(case, &outcome, expect);
}

fn assert_outcome(case: Case, outcome: &Outcome, expect: Expect) {
    match (expect, outcome) {
        (Expect::Pass, Outcome::Pass) => {}
        (Expect::Skip(prefix), Outcome::Skip(why)) if why.starts_with(prefix) => {}
        _ => panic!("expected {expect:?}, got: {}", outcome.line(case.name())),
    }
}

/// One test per case and transport: `name: plaintext expectation, TLS expectation;`.
macro_rules! cases {
    ($($(#[$meta:meta])* $name:ident: $plain:expr, $tls:expr;)*) => {
        mod plaintext {
            use super::*;
            $(
                $(#[$meta])*
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    check(Case::from_name(stringify!($name)).unwrap(), false, $plain).await;
                }
            )*
        }
        mod tls {
            use super::*;
            $(
                $(#[$meta])*
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    check(Case::from_name(stringify!($name)).unwrap(), true, $tls).await;
                }
            )*
        }

        /// Every case has its tests.
        #[test]
        fn every_case_is_tested() {
            let tested = [$(stringify!($name)),*];
            for case in Case::ALL {
                assert!(tested.contains(&case.name()), "no test for {case}");
            }
        }
    };
}

const NO_CACHE: Expect = Expect::Skip("needs a caching proxy");

cases! {
    empty_unary: Expect::Pass, Expect::Pass;
    cacheable_unary: NO_CACHE, NO_CACHE;
    large_unary: Expect::Pass, Expect::Pass;
    client_compressed_unary: Expect::Pass, Expect::Pass;
    server_compressed_unary: Expect::Pass, Expect::Pass;
    client_streaming: Expect::Pass, Expect::Pass;
    client_compressed_streaming: Expect::Pass, Expect::Pass;
    server_streaming: Expect::Pass, Expect::Pass;
    server_compressed_streaming: Expect::Pass, Expect::Pass;
    ping_pong: Expect::Pass, Expect::Pass;
    empty_stream: Expect::Pass, Expect::Pass;
    custom_metadata: Expect::Pass, Expect::Pass;
    status_code_and_message: Expect::Pass, Expect::Pass;
    special_status_message: Expect::Pass, Expect::Pass;
    unimplemented_method: Expect::Pass, Expect::Pass;
    unimplemented_service: Expect::Pass, Expect::Pass;
    cancel_after_begin: Expect::Pass, Expect::Pass;
    cancel_after_first_response: Expect::Pass, Expect::Pass;
    timeout_on_sleeping_server: Expect::Pass, Expect::Pass;
    concurrent_large_unary: Expect::Pass, Expect::Pass;
    bearer_token: Expect::Skip("needs --use_tls"), Expect::Pass;
}

/// `--test_case all` in process: every case in order on one channel, as the binary runs
/// them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_cases_on_one_channel() {
    for tls in [false, true] {
        let server = TestServer::start(tls).await;
        let mut reported = Vec::new();
        let outcomes = run_cases(&server.client_options(), &Case::ALL, |case, _| {
            reported.push(case);
        })
        .await;
        assert_eq!(reported, Case::ALL, "cases ran out of order");
        for (case, outcome) in outcomes {
            let expect = match case {
                Case::CacheableUnary => NO_CACHE,
                Case::BearerToken if !tls => Expect::Skip("needs --use_tls"),
                _ => Expect::Pass,
            };
            assert_outcome(case, &outcome, expect);
        }
    }
}

#[tokio::test]
async fn server_name_override_and_a_ca_that_does_not_match() {
    let server = TestServer::start(true).await;
    let options = ClientOptions {
        server_host: "127.0.0.1".into(),
        server_host_override: Some("localhost".into()),
        ..server.client_options()
    };
    assert_eq!(run_case(&options, Case::EmptyUnary).await, Outcome::Pass);

    let options = ClientOptions {
        server_host_override: Some("not-the-server.example".into()),
        ..server.client_options()
    };
    match run_case(&options, Case::EmptyUnary).await {
        Outcome::Fail(what) => assert!(what.starts_with("connecting:"), "{what}"),
        other => panic!("expected a TLS failure, got {other:?}"),
    }
}

#[tokio::test]
async fn a_server_that_is_not_there_fails_every_case() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let options = ClientOptions {
        server_port: port,
        ..ClientOptions::default()
    };
    let outcomes = run_cases(&options, &[Case::EmptyUnary, Case::LargeUnary], |_, _| {}).await;
    assert_eq!(outcomes.len(), 2);
    for (_, outcome) in outcomes {
        assert!(outcome.is_fail(), "{outcome:?}");
    }
}
