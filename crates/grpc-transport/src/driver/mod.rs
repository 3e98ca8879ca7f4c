//! The tokio driver: runs a [`Connection`](crate::connection::Connection) over a real
//! transport and gives the application stream handles.
//!
//! One task per connection owns the connection state, reads, writes and fires timers
//! ([`ConnectionTask`]). Handles ([`Client`], [`Incoming`], [`SendStream`], [`RecvStream`])
//! talk to it through a command queue, so no lock is shared on the data path. Frames are
//! gathered into one buffer per pass and written with one `write` and one flush.
//!
//! Transports: TCP (TCP_NODELAY on), Unix domain sockets, TLS through tokio-rustls with ALPN
//! "h2" required ([`tls`]), and HTTP/2 over cleartext TCP with prior knowledge (h2c).
//!
//! # Example
//!
//! ```
//! use bytes::Bytes;
//! use grpc_transport::connection::Config;
//! use grpc_transport::driver::{Client, Incoming};
//! use grpc_transport::hpack::HeaderField;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let addr = listener.local_addr()?;
//! tokio::spawn(async move {
//!     let (tcp, _) = listener.accept().await?;
//!     let mut incoming = Incoming::serve(tcp, Config::server());
//!     while let Some(mut request) = incoming.accept().await {
//!         request.respond.send_headers(vec![HeaderField::new(":status", "200")], false)?;
//!         request.respond.send_data(Bytes::from_static(b"hello"), true).await?;
//!     }
//!     Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
//! });
//!
//! let client = Client::connect_tcp(addr, Config::client()).await?;
//! let request = vec![
//!     HeaderField::new(":method", "GET"),
//!     HeaderField::new(":scheme", "http"),
//!     HeaderField::new(":path", "/"),
//!     HeaderField::new(":authority", "localhost"),
//! ];
//! let (_send, mut response) = client.send_request(request, true)?;
//! let headers = response.headers().await?;
//! assert_eq!(headers[0], HeaderField::new(":status", "200"));
//! assert_eq!(response.data().await.transpose()?, Some(Bytes::from_static(b"hello")));
//! # Ok(())
//! # }
//! ```

mod client;
mod error;
mod server;
mod stream;
mod task;
pub mod tls;

pub use client::Client;
pub use error::Error;
pub use server::{Incoming, ServerConnection};
pub use stream::{RecvStream, SendStream, StopSignal};
pub use task::{ConnectionStats, ConnectionTask, IncomingRequest};
