//! `cargo run -p custom-resolver`: a name resolver of your own, plugged into a channel.
//!
//! `src/resolver.rs` serves a made-up scheme, `backends:///NAME`, from an in-memory
//! directory the application edits (think of a config file or a service registry), using
//! only `grpc-resolver-api`. `ChannelBuilder::resolver` plugs it into a channel, whose
//! service config picks `round_robin` to spread calls over the backends.
//!
//! First `echo` is alpha and beta. Then alpha shuts down and the directory says beta and
//! gamma: round_robin loses a connection and asks for re-resolution, the channel calls our
//! `resolve_now`, and calls move to beta and gamma. Each call prints who answered; any
//! surprise ends the program with an error (a non-zero exit status).

mod resolver;

use std::{collections::BTreeSet, error::Error, net::SocketAddr, sync::Arc, time::Duration};

use bytes::Bytes;
use grpc_client::{Channel, Request, codec::BytesCodec};
use grpc_server::{Response, Server, ServerHandle};
use resolver::{BackendsResolverBuilder, Directory};

const METHOD: &str = "/demo.Echo/WhoAreYou";
/// round_robin over the backends; a call that fails UNAVAILABLE (one sent to a backend just as
/// it goes away) is tried once more.
const SERVICE_CONFIG: &str = r#"{"loadBalancingConfig": [{"round_robin": {}}],
    "methodConfig": [{"name": [{}], "retryPolicy": {"maxAttempts": 2, "initialBackoff": "0.01s",
        "maxBackoff": "0.01s", "backoffMultiplier": 1, "retryableStatusCodes": ["UNAVAILABLE"]}}]}"#;

/// Starts a server on 127.0.0.1:0 whose one method answers with `name`.
async fn backend(name: &'static str) -> std::io::Result<(SocketAddr, ServerHandle)> {
    let server = Server::builder()
        .add_routes(|routes| {
            routes.unary(METHOD, BytesCodec, move |_: Request<Bytes>| async move {
                Ok(Response::new(Bytes::from_static(name.as_bytes())))
            })
        })
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await?;
    let (addr, handle) = (server.local_addr(), server.handle());
    println!("{name:>5} listening on {addr}");
    tokio::spawn(server.serve());
    Ok((addr, handle))
}

/// Calls (one every 50 ms, at least 4, at most 40) until each of `expected` has answered;
/// fails if anyone else answers or time runs out.
async fn calls_until(channel: &Channel, expected: &[&str]) -> Result<(), Box<dyn Error>> {
    let mut answered = BTreeSet::new();
    for i in 1..=40 {
        let call = channel.unary(Request::new(Bytes::new()), METHOD, BytesCodec);
        let name = String::from_utf8_lossy(&call.await?.into_inner()).into_owned();
        println!("   call {i:>2}: answered by {name}");
        if !expected.contains(&name.as_str()) {
            return Err(format!("{name} answered, expected only {expected:?}").into());
        }
        answered.insert(name);
        if i >= 4 && answered.len() == expected.len() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!("only {answered:?} answered, expected {expected:?}").into())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let (alpha, alpha_server) = backend("alpha").await?;
    let (beta, _) = backend("beta").await?;
    let (gamma, _) = backend("gamma").await?;
    let directory = Directory::default();
    directory.set("echo", vec![alpha, beta]);

    let channel = Channel::builder("backends:///echo")
        .resolver(Arc::new(BackendsResolverBuilder(directory.clone())))
        .default_service_config(SERVICE_CONFIG)
        .connect()
        .await?;

    println!("\n1. echo = [alpha, beta]: round_robin spreads the calls");
    calls_until(&channel, &["alpha", "beta"]).await?;

    println!("\n2. alpha shuts down; the directory now says echo = [beta, gamma]");
    directory.set("echo", vec![beta, gamma]);
    alpha_server.shutdown_graceful(Duration::from_secs(1));
    alpha_server.wait().await;
    calls_until(&channel, &["beta", "gamma"]).await?;

    println!("\nok: the channel followed the resolver");
    Ok(())
}
