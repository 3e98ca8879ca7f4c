//! What the interop tests share: an in-process interop server on 127.0.0.1 and client
//! options that reach it.

#![allow(dead_code)]

use std::net::SocketAddr;

use grpc_interop::client::ClientOptions;
use grpc_interop::server::{self, ServerOptions, TlsIdentity};

/// An interop server running in this process; stopped when dropped.
pub(crate) struct TestServer {
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    /// Whether it serves TLS.
    pub(crate) tls: bool,
    handle: grpc_server::ServerHandle,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.handle.stop();
    }
}

impl TestServer {
    /// Starts a server on a free port, with the test certificate when `tls`.
    pub(crate) async fn start(tls: bool) -> TestServer {
        let options = ServerOptions {
            addr: "127.0.0.1:0".parse().unwrap(),
            tls: tls.then(TlsIdentity::test_server),
        };
        let server = server::bind(&options).await.unwrap();
        let addr = server.local_addr();
        let handle = server.handle();
        tokio::spawn(server.serve());
        TestServer { addr, tls, handle }
    }

    /// Client options for this server (the test CA when it serves TLS).
    pub(crate) fn client_options(&self) -> ClientOptions {
        ClientOptions {
            server_port: self.addr.port(),
            tls_ca: self.tls.then(|| grpc_interop::certs::CA.to_vec()),
            ..ClientOptions::default()
        }
    }

    /// A channel to this server, as the interop client makes it.
    pub(crate) async fn channel(&self) -> grpc_client::Channel {
        let (scheme, builder) = if self.tls {
            ("https", true)
        } else {
            ("http", false)
        };
        let mut channel = grpc_client::Channel::builder(&format!("{scheme}://{}", self.addr));
        if builder {
            channel = channel.tls_ca_pem(grpc_interop::certs::CA).unwrap();
        }
        channel.connect().await.unwrap()
    }
}
