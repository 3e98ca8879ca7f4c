//! The Greeter server alone: `cargo run -p greeter --bin greeter-server -- [--port N]`.
//! Stops gracefully on Ctrl-C. Serves reflection (v1 and v1alpha) too, so grpcurl needs no
//! .proto file: `grpcurl -plaintext 127.0.0.1:50051 describe greeter.v1.Greeter`.
//! `--port 0` picks a free port; the first line printed says which.

use std::error::Error;
use std::net::SocketAddr;
use std::time::Duration;

use greeter::GreeterService;
use greeter::pb::greeter_server::GreeterServer;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut port = 50051;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => port = args.next().ok_or("--port needs a value")?.parse()?,
            other => return Err(format!("unknown argument {other:?} (usage: --port N)").into()),
        }
    }
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let reflection = grpc_reflection::Builder::new()
        .register_file_descriptor_set(greeter::FILE_DESCRIPTOR_SET)
        .build()?;
    let server = grpc_server::Server::builder()
        .add_service(GreeterServer::new(GreeterService))
        .add_service(reflection)
        .bind(addr)
        .await?;
    println!("greeter server listening on {}", server.local_addr());
    let handle = server.handle();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            println!("shutting down (in-flight calls get 5 s to finish)");
            handle.shutdown_graceful(Duration::from_secs(5));
        }
    });
    server.serve().await?;
    Ok(())
}
