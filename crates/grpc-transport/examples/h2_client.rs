//! An HTTP/2 client that GETs one URL and exits 0 on a 2xx status.
//!
//! ```text
//! cargo run -p grpc-transport --example h2_client -- http://127.0.0.1:8080/
//! cargo run -p grpc-transport --example h2_client -- https://localhost:8443/ --ca ca.pem
//! ```
//!
//! `http://` uses HTTP/2 with prior knowledge (h2c); `https://` uses TLS with ALPN "h2",
//! trusting the CA certificates in `--ca`.

use std::process::ExitCode;

use grpc_transport::connection::Config;
use grpc_transport::driver::{Client, tls};
use grpc_transport::hpack::HeaderField;

struct Target {
    tls: bool,
    host: String,
    port: u16,
    path: String,
}

fn parse_url(url: &str) -> Result<Target, String> {
    let (tls, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err(format!(
            "{url}: only http:// and https:// URLs are supported"
        ));
    };
    let (authority, path) = match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (host, port.parse().map_err(|e| format!("port: {e}"))?),
        None => (authority, if tls { 443 } else { 80 }),
    };
    Ok(Target {
        tls,
        host: host.to_string(),
        port,
        path: path.to_string(),
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let mut url = None;
    let mut ca = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--ca" => ca = args.next(),
            _ if url.is_none() => url = Some(arg),
            other => {
                eprintln!("h2_client: unexpected argument {other}");
                return ExitCode::from(2);
            }
        }
    }
    let Some(url) = url else {
        eprintln!("usage: h2_client URL [--ca CA.pem]");
        return ExitCode::from(2);
    };
    match run(&url, ca.as_deref()).await {
        Ok(status) if (200..300).contains(&status) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("h2_client: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(url: &str, ca: Option<&str>) -> Result<u16, String> {
    let target = parse_url(url)?;
    let addr = (target.host.as_str(), target.port);
    let client = if target.tls {
        let ca = ca.ok_or("https:// needs --ca")?;
        let ca = std::fs::read(ca).map_err(|e| format!("{ca}: {e}"))?;
        let config = tls::client_config(&ca).map_err(|e| e.to_string())?;
        let name = rustls_pki_types::ServerName::try_from(target.host.clone())
            .map_err(|e| format!("server name: {e}"))?;
        Client::connect_tls(addr, name, config, Config::client()).await
    } else {
        Client::connect_tcp(addr, Config::client()).await
    }
    .map_err(|e| format!("connect: {e}"))?;
    let authority = format!("{}:{}", target.host, target.port);
    let request = vec![
        HeaderField::new(":method", "GET"),
        HeaderField::new(":scheme", if target.tls { "https" } else { "http" }),
        HeaderField::new(":path", target.path),
        HeaderField::new(":authority", authority),
        HeaderField::new("user-agent", "grpc-transport-h2-client"),
    ];
    let (_send, mut response) = client
        .send_request(request, true)
        .map_err(|e| format!("request: {e}"))?;
    let headers = response
        .headers()
        .await
        .map_err(|e| format!("response: {e}"))?;
    let status = headers
        .iter()
        .find(|f| &f.name[..] == b":status")
        .and_then(|f| std::str::from_utf8(&f.value).ok()?.parse::<u16>().ok())
        .ok_or("response without a valid :status")?;
    let mut length = 0;
    while let Some(chunk) = response.data().await {
        length += chunk.map_err(|e| format!("body: {e}"))?.len();
    }
    println!("status: {status}");
    println!("body length: {length}");
    Ok(status)
}
