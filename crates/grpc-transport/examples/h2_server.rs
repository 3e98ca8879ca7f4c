//! An HTTP/2 server that answers every request (any method, any path) with status 200 and a
//! short text body. Used by the nghttp2 interop tests and generic HTTP/2 conformance tools.
//!
//! ```text
//! cargo run -p grpc-transport --example h2_server -- --port 8080
//! cargo run -p grpc-transport --example h2_server -- --port 8443 --tls-cert cert.pem --tls-key key.pem
//! ```
//!
//! Plaintext connections use HTTP/2 with prior knowledge (h2c); TLS requires ALPN "h2".
//! Prints `listening on 127.0.0.1:PORT` once ready.

use std::io::Write;
use std::process::ExitCode;

use bytes::Bytes;
use grpc_transport::connection::Config;
use grpc_transport::driver::{Incoming, IncomingRequest, tls};
use grpc_transport::hpack::HeaderField;
use tokio::net::TcpListener;

const BODY: &[u8] = b"hello from grpc-transport\n";

struct Args {
    port: u16,
    tls: Option<(String, String)>,
}

fn parse_args() -> Result<Args, String> {
    let mut port = None;
    let mut cert = None;
    let mut key = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--port" => port = Some(value()?.parse().map_err(|e| format!("--port: {e}"))?),
            "--tls-cert" => cert = Some(value()?),
            "--tls-key" => key = Some(value()?),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let tls = match (cert, key) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => return Err("--tls-cert and --tls-key go together".into()),
    };
    Ok(Args {
        port: port.ok_or("--port is required")?,
        tls,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!(
                "h2_server: {message}\nusage: h2_server --port N [--tls-cert PEM --tls-key PEM]"
            );
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("h2_server: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let acceptor = match &args.tls {
        Some((cert, key)) => {
            let cert = std::fs::read(cert).map_err(|e| format!("{cert}: {e}"))?;
            let key = std::fs::read(key).map_err(|e| format!("{key}: {e}"))?;
            let config = tls::server_config(&cert, &key).map_err(|e| e.to_string())?;
            Some(tokio_rustls::TlsAcceptor::from(config))
        }
        None => None,
    };
    let listener = TcpListener::bind(("127.0.0.1", args.port))
        .await
        .map_err(|e| format!("bind: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("listening on {addr}");
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    loop {
        let (tcp, peer) = listener
            .accept()
            .await
            .map_err(|e| format!("accept: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let incoming = match acceptor {
                Some(acceptor) => match tls::accept(tcp, &acceptor).await {
                    Ok(stream) => Incoming::serve(stream, Config::server()),
                    Err(error) => {
                        eprintln!("h2_server: {peer}: {error}");
                        return;
                    }
                },
                None => Incoming::serve(tcp, Config::server()),
            };
            serve(incoming).await;
        });
    }
}

async fn serve(mut incoming: Incoming) {
    while let Some(request) = incoming.accept().await {
        tokio::spawn(respond(request));
    }
}

async fn respond(mut request: IncomingRequest) {
    // Read the request body to its end, so uploads are flow-controlled and complete.
    while let Some(chunk) = request.body.data().await {
        if chunk.is_err() {
            return;
        }
    }
    let headers = vec![
        HeaderField::new(":status", "200"),
        HeaderField::new("content-type", "text/plain"),
        HeaderField::new("content-length", BODY.len().to_string()),
    ];
    if request.respond.send_headers(headers, false).is_ok() {
        let _ = request
            .respond
            .send_data(Bytes::from_static(BODY), true)
            .await;
    }
}
