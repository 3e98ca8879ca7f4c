//! Request, Response, Extensions and call credentials.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use grpc_core::credentials::{AuthContext, BearerToken, CallCredentials};
use grpc_core::{Code, Extensions, IntoRequest, Metadata, Request, Response};

fn ready<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("future not ready"),
    }
}

fn ctx() -> AuthContext {
    AuthContext {
        service_url: "https://example.com/pkg.Service".into(),
        method: "/pkg.Service/Method".into(),
        secure: true,
    }
}

#[test]
fn bearer_token() {
    let creds = BearerToken::new("s3cret");
    let md = ready(creds.metadata(&ctx())).unwrap();
    assert_eq!(md.get("authorization"), Some("Bearer s3cret"));
    assert!(creds.requires_transport_security());
    assert!(
        !format!("{creds:?}").contains("s3cret"),
        "token not in Debug"
    );

    let bad = BearerToken::new("line\nbreak");
    let err = ready(bad.metadata(&ctx())).unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
}

#[test]
fn credentials_are_object_safe() {
    let creds: std::sync::Arc<dyn CallCredentials> = std::sync::Arc::new(BearerToken::new("t"));
    assert!(ready(creds.metadata(&ctx())).is_ok());
}

#[test]
fn request_parts() {
    let mut req = Request::new(String::from("hi"));
    req.metadata_mut().insert("k", "v").unwrap();
    req.extensions_mut().insert(42u32);
    req.set_timeout(Duration::from_millis(250));
    req.get_mut().push('!');
    assert_eq!(req.get_ref(), "hi!");
    assert_eq!(req.metadata().get("k"), Some("v"));
    assert_eq!(req.extensions().get::<u32>(), Some(&42));
    let req = req.map(|s| s.len());
    assert_eq!(*req.get_ref(), 3);
    assert_eq!(req.timeout(), Some(Duration::from_millis(250)));
    let (md, ext, msg) = req.into_parts();
    let mut req = Request::from_parts(md, ext, msg);
    assert_eq!(req.timeout(), Some(Duration::from_millis(250)));
    assert_eq!(req.clear_timeout(), Some(Duration::from_millis(250)));
    assert_eq!(req.timeout(), None);
    assert_eq!(req.into_inner(), 3);

    let from_msg: Request<u8> = 7u8.into_request();
    assert_eq!(from_msg.into_inner(), 7);
    let from_req: Request<u8> = Request::new(8u8).into_request();
    assert_eq!(from_req.into_inner(), 8);
}

#[test]
fn response_parts() {
    let mut resp = Response::new(1u8);
    resp.metadata_mut().insert("h", "1").unwrap();
    resp.trailers_mut().insert("t", "2").unwrap();
    resp.extensions_mut().insert("x");
    *resp.get_mut() += 1;
    let resp = resp.map(u32::from);
    assert_eq!(*resp.get_ref(), 2);
    assert_eq!(resp.metadata().get("h"), Some("1"));
    assert_eq!(resp.trailers().get("t"), Some("2"));
    assert_eq!(resp.extensions().get::<&str>(), Some(&"x"));
    let (headers, ext, msg, trailers) = resp.into_parts();
    assert_eq!(headers.get("h"), Some("1"));
    assert_eq!(trailers.get("t"), Some("2"));
    let resp = Response::from_parts(headers, ext, msg, trailers);
    assert_eq!(resp.into_inner(), 2);
    let _ = Response::new(()).trailers().is_empty();
    let _ = Metadata::new();
    let _ = Extensions::default();
}
