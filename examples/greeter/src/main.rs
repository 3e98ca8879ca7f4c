//! `cargo run -p greeter`: a Greeter server and a client in one process. The client calls each
//! of gRPC's four RPC kinds, then shows an error status, a deadline and metadata, and the
//! server shuts down gracefully. Every step prints what was sent and what came back; any
//! surprise ends the tour with an error (and a non-zero exit status).

use std::error::Error;
use std::time::{Duration, Instant};

use greeter::GreeterService;
use greeter::pb::HelloRequest;
use greeter::pb::greeter_client::GreeterClient;
use greeter::pb::greeter_server::GreeterServer;
use grpc_client::{Code, Request};

fn step(number: u32, title: &str, call: &str) {
    println!("\n{number}. {title}\n   -> {call}");
}

fn hello(name: &str) -> HelloRequest {
    HelloRequest {
        name: name.to_owned(),
        ..HelloRequest::default()
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let server = grpc_server::Server::builder()
        .add_service(GreeterServer::new(GreeterService))
        .bind("127.0.0.1:0".parse()?)
        .await?;
    let addr = server.local_addr();
    let handle = server.handle();
    let serving = tokio::spawn(server.serve());
    println!("server  listening on {addr} (HTTP/2 without TLS)");

    let client = GreeterClient::connect(&format!("http://{addr}")).await?;
    println!("client  connected to http://{addr}");

    step(1, "unary", "SayHello { name: \"Ada\" }");
    let reply = client.say_hello(hello("Ada")).await?;
    println!("   <- {:?}", reply.get_ref().message);

    step(
        2,
        "server streaming",
        "LotsOfReplies { name: \"Grace\", count: 3 }",
    );
    let request = HelloRequest {
        count: 3,
        ..hello("Grace")
    };
    let mut replies = client.lots_of_replies(request).await?.into_inner();
    let mut received = 0;
    while let Some(reply) = replies.message().await? {
        println!("   <- #{} {:?}", reply.sequence, reply.message);
        received += 1;
    }
    if received != 3 {
        return Err(format!("expected 3 replies, got {received}").into());
    }

    step(3, "client streaming", "LotsOfGreetings, three requests");
    let mut call = client.lots_of_greetings(()).await?;
    for name in ["Alan", "Barbara", "Edsger"] {
        call.send(hello(name)).await?;
        println!("   -> {{ name: {name:?} }}");
    }
    let reply = call.finish().await?;
    println!("   <- {:?}", reply.get_ref().message);

    step(
        4,
        "bidirectional streaming",
        "Chat, each request answered as it arrives",
    );
    let mut chat = client.chat(()).await?;
    for name in ["Margaret", "Dennis"] {
        chat.send(hello(name)).await?;
        println!("   -> {{ name: {name:?} }}");
        let reply = chat.message().await?.ok_or("the chat ended early")?;
        println!("   <- #{} {:?}", reply.sequence, reply.message);
    }
    chat.close_send().await?;
    if chat.message().await?.is_some() {
        return Err("the chat went on after the client closed its side".into());
    }
    println!("   (client closed its side; the server ended the call with OK)");

    step(5, "an error status", "SayHello { name: \"\" }");
    match client.say_hello(hello("")).await {
        Err(status) if status.code() == Code::InvalidArgument => {
            println!("   <- {}: {}", status.code(), status.message());
        }
        other => return Err(format!("expected INVALID_ARGUMENT, got {other:?}").into()),
    }

    step(
        6,
        "a deadline",
        "SayHello { name: \"Slow\", delay_ms: 2000 } with a 200 ms deadline",
    );
    let mut request = Request::new(HelloRequest {
        delay_ms: 2000,
        ..hello("Slow")
    });
    request.set_timeout(Duration::from_millis(200));
    let started = Instant::now();
    match client.say_hello(request).await {
        Err(status) if status.code() == Code::DeadlineExceeded => {
            println!(
                "   <- {} after {} ms: {}",
                status.code(),
                started.elapsed().as_millis(),
                status.message()
            );
        }
        other => return Err(format!("expected DEADLINE_EXCEEDED, got {other:?}").into()),
    }

    step(
        7,
        "metadata",
        "SayHello { name: \"Barbara\" } with x-request-id: demo-42 and 16 octets of trace-bin",
    );
    let mut request = Request::new(hello("Barbara"));
    request.metadata_mut().insert("x-request-id", "demo-42")?;
    request
        .metadata_mut()
        .insert_bin("trace-bin", (0u8..16).collect::<Vec<u8>>())?;
    let response = client.say_hello(request).await?;
    let echoed = response
        .metadata()
        .get("x-request-id")
        .unwrap_or("(missing)");
    let trace_bytes = response
        .trailers()
        .get("x-trace-bytes")
        .unwrap_or("(missing)");
    println!("   <- {:?}", response.get_ref().message);
    println!("   <- header  x-request-id: {echoed}");
    println!("   <- trailer x-trace-bytes: {trace_bytes}");
    if echoed != "demo-42" || trace_bytes != "16" {
        return Err("metadata did not make the round trip".into());
    }

    handle.shutdown_graceful(Duration::from_secs(5));
    serving.await??;
    println!("\nserver  shut down gracefully. All 7 steps behaved as expected.");
    Ok(())
}
