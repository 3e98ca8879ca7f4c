//! The Greeter client alone:
//! `cargo run -p greeter --bin greeter-client -- [--target http://127.0.0.1:50051] [NAME]`.
//! Says hello once, then asks for three streamed replies.

use std::error::Error;

use greeter::pb::HelloRequest;
use greeter::pb::greeter_client::GreeterClient;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut target = String::from("http://127.0.0.1:50051");
    let mut name = String::from("world");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--target" => target = args.next().ok_or("--target needs a value")?,
            other => name = other.to_owned(),
        }
    }
    let client = GreeterClient::connect(&target).await?;
    let reply = client
        .say_hello(HelloRequest {
            name: name.clone(),
            ..HelloRequest::default()
        })
        .await?;
    println!("{}", reply.get_ref().message);
    let mut replies = client
        .lots_of_replies(HelloRequest {
            name,
            count: 3,
            ..HelloRequest::default()
        })
        .await?
        .into_inner();
    while let Some(reply) = replies.message().await? {
        println!("{}", reply.message);
    }
    Ok(())
}
