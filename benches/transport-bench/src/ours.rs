//! The scenarios on our stack: `grpc_transport::driver` client against its server, both
//! with default [`Config`]s (BDP estimation on).

use bytes::Bytes;
use grpc_transport::connection::Config;
use grpc_transport::driver::{Client, Incoming, IncomingRequest, RecvStream};
use grpc_transport::hpack::HeaderField;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::counting::CountingIo;
use crate::scenario::{
    BoxError, CHUNK_LEN, Direction, Exchange, MESSAGE_LEN, PATH_DOWNLOAD, PATH_PINGPONG,
    PATH_UNARY, PATH_UPLOAD, SIZE_HEADER, Sides, Transfer, chunk, message,
};

/// One connection of ours over loopback TCP: the client handle and the server's task.
pub(crate) struct Conn {
    /// The client handle.
    pub(crate) client: Client,
    /// The socket counters of both ends.
    pub(crate) sides: Sides,
    authority: String,
    server: JoinHandle<Result<(), BoxError>>,
}

impl Conn {
    /// Listens on 127.0.0.1, connects, and serves the benchmark routes on the accepted
    /// connection. TCP_NODELAY is on at both ends.
    pub(crate) async fn open() -> Result<Conn, BoxError> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let sides = Sides::new();
        let server_counters = sides.server.clone();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await?;
            tcp.set_nodelay(true)?;
            let incoming = Incoming::serve(CountingIo::new(tcp, server_counters), Config::server());
            serve(incoming).await;
            Ok(())
        });
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let client =
            Client::handshake(CountingIo::new(tcp, sides.client.clone()), Config::client());
        Ok(Conn {
            client,
            sides,
            authority: addr.to_string(),
            server,
        })
    }

    /// Request headers for `path` (gRPC-like: POST, content-type, te).
    fn request(&self, path: &'static str) -> Vec<HeaderField> {
        vec![
            HeaderField::new(":method", "POST"),
            HeaderField::new(":scheme", "http"),
            HeaderField::new(":path", path),
            HeaderField::new(":authority", self.authority.clone()),
            HeaderField::new("content-type", "application/grpc"),
            HeaderField::new("te", "trailers"),
        ]
    }

    /// A unary client on this connection.
    pub(crate) fn unary(&self) -> Unary {
        Unary {
            client: self.client.clone(),
            headers: self.request(PATH_UNARY),
            body: message(),
        }
    }

    /// Opens the ping-pong stream and waits for the response headers.
    pub(crate) async fn pingpong(&self) -> Result<PingPong, BoxError> {
        let (send, mut recv) = self
            .client
            .send_request(self.request(PATH_PINGPONG), false)?;
        check_status(&recv.headers().await?)?;
        Ok(PingPong {
            send,
            recv,
            message: message(),
        })
    }

    /// A bulk-transfer client on this connection.
    pub(crate) fn transfers(&self) -> Transfers {
        Transfers {
            client: self.client.clone(),
            upload: self.request(PATH_UPLOAD),
            download: self.request(PATH_DOWNLOAD),
            chunk: chunk(),
        }
    }

    /// Drops the client (the connection then closes gracefully) and waits for the server.
    pub(crate) async fn close(self) -> Result<(), BoxError> {
        drop(self.client);
        match tokio::time::timeout(std::time::Duration::from_secs(5), self.server).await {
            Ok(joined) => joined?,
            Err(_) => Err("ours: server did not finish within 5 s of the client closing".into()),
        }
    }
}

/// The unary exchange: 64-byte request, 200 + 64-byte response + `grpc-status: 0`.
pub(crate) struct Unary {
    client: Client,
    headers: Vec<HeaderField>,
    body: Bytes,
}

impl Exchange for Unary {
    async fn exchange(&mut self) -> Result<(), BoxError> {
        let (mut send, mut recv) = self.client.send_request(self.headers.clone(), false)?;
        send.send_data(self.body.clone(), true).await?;
        check_status(&recv.headers().await?)?;
        let mut len = 0;
        while let Some(chunk) = recv.data().await {
            len += chunk?.len();
        }
        if len != MESSAGE_LEN {
            return Err(format!("ours: unary response body of {len} octets").into());
        }
        check_trailers(recv.trailers().await?.as_deref())
    }
}

/// One long-lived stream; each exchange sends 64 octets and waits for their echo.
pub(crate) struct PingPong {
    send: grpc_transport::driver::SendStream,
    recv: RecvStream,
    message: Bytes,
}

impl Exchange for PingPong {
    async fn exchange(&mut self) -> Result<(), BoxError> {
        self.send.send_data(self.message.clone(), false).await?;
        let mut got = 0;
        while got < MESSAGE_LEN {
            match self.recv.data().await {
                Some(chunk) => got += chunk?.len(),
                None => return Err("ours: ping-pong stream ended early".into()),
            }
        }
        Ok(())
    }
}

impl PingPong {
    /// Ends the stream from our side and reads the server's trailers.
    pub(crate) async fn finish(mut self) -> Result<(), BoxError> {
        self.send.send_data(Bytes::new(), true).await?;
        check_trailers(self.recv.trailers().await?.as_deref())
    }
}

/// Bulk uploads and downloads, one stream each.
pub(crate) struct Transfers {
    client: Client,
    upload: Vec<HeaderField>,
    download: Vec<HeaderField>,
    chunk: Bytes,
}

impl Transfer for Transfers {
    async fn transfer(&mut self, direction: Direction, bytes: u64) -> Result<(), BoxError> {
        match direction {
            Direction::Upload => {
                let (mut send, mut recv) = self.client.send_request(self.upload.clone(), false)?;
                send_all(&mut send, &self.chunk, bytes).await?;
                check_status(&recv.headers().await?)?;
                check_trailers(recv.trailers().await?.as_deref())
            }
            Direction::Download => {
                let mut headers = self.download.clone();
                headers.push(HeaderField::new(SIZE_HEADER, bytes.to_string()));
                let (_send, mut recv) = self.client.send_request(headers, true)?;
                check_status(&recv.headers().await?)?;
                let got = drain(&mut recv).await?;
                if got != bytes {
                    return Err(format!("ours: downloaded {got} of {bytes} octets").into());
                }
                check_trailers(recv.trailers().await?.as_deref())
            }
        }
    }
}

/// Sends `total` octets in [`CHUNK_LEN`] pieces (END_STREAM on the last), waiting on the
/// stream's send buffer like any application would.
async fn send_all(
    send: &mut grpc_transport::driver::SendStream,
    chunk: &Bytes,
    total: u64,
) -> Result<(), BoxError> {
    let mut left = total;
    while left > 0 {
        let n = left.min(CHUNK_LEN as u64);
        left -= n;
        send.send_data(chunk.slice(..n as usize), left == 0).await?;
    }
    Ok(())
}

/// Reads a body to its end; returns its length.
async fn drain(recv: &mut RecvStream) -> Result<u64, BoxError> {
    let mut got = 0u64;
    while let Some(chunk) = recv.data().await {
        got += chunk?.len() as u64;
    }
    Ok(got)
}

fn check_status(headers: &[HeaderField]) -> Result<(), BoxError> {
    match headers.iter().find(|f| &f.name[..] == b":status") {
        Some(f) if &f.value[..] == b"200" => Ok(()),
        _ => Err("ours: response without :status 200".into()),
    }
}

fn check_trailers(trailers: Option<&[HeaderField]>) -> Result<(), BoxError> {
    let ok = trailers
        .into_iter()
        .flatten()
        .any(|f| &f.name[..] == b"grpc-status" && &f.value[..] == b"0");
    if ok {
        Ok(())
    } else {
        Err("ours: response without trailers grpc-status: 0".into())
    }
}

// ---- Server ------------------------------------------------------------------------------

async fn serve(mut incoming: Incoming) {
    let message = message();
    let chunk = chunk();
    while let Some(request) = incoming.accept().await {
        let (message, chunk) = (message.clone(), chunk.clone());
        tokio::spawn(async move {
            if let Err(error) = handle(request, message, chunk).await {
                eprintln!("transport-bench: ours: server handler failed: {error}");
            }
        });
    }
}

fn path_of(headers: &[HeaderField]) -> &[u8] {
    headers
        .iter()
        .find(|f| &f.name[..] == b":path")
        .map_or(&[][..], |f| &f.value[..])
}

fn response_headers() -> Vec<HeaderField> {
    vec![
        HeaderField::new(":status", "200"),
        HeaderField::new("content-type", "application/grpc"),
    ]
}

fn ok_trailers() -> Vec<HeaderField> {
    vec![HeaderField::new("grpc-status", "0")]
}

async fn handle(
    mut request: IncomingRequest,
    message: Bytes,
    chunk: Bytes,
) -> Result<(), BoxError> {
    let path = path_of(&request.headers).to_vec();
    let respond = &mut request.respond;
    match &path[..] {
        p if p == PATH_UNARY.as_bytes() => {
            drain(&mut request.body).await?;
            respond.send_headers(response_headers(), false)?;
            respond.send_data(message, false).await?;
            respond.send_trailers(ok_trailers())?;
        }
        p if p == PATH_PINGPONG.as_bytes() => {
            respond.send_headers(response_headers(), false)?;
            while let Some(data) = request.body.data().await {
                let data = data?;
                if !data.is_empty() {
                    respond.send_data(data, false).await?;
                }
            }
            respond.send_trailers(ok_trailers())?;
        }
        p if p == PATH_UPLOAD.as_bytes() => {
            drain(&mut request.body).await?;
            respond.send_headers(response_headers(), false)?;
            respond.send_trailers(ok_trailers())?;
        }
        p if p == PATH_DOWNLOAD.as_bytes() => {
            let size = request
                .headers
                .iter()
                .find(|f| &f.name[..] == SIZE_HEADER.as_bytes())
                .and_then(|f| std::str::from_utf8(&f.value).ok()?.parse::<u64>().ok())
                .ok_or("ours: download without a size")?;
            drain(&mut request.body).await?;
            respond.send_headers(response_headers(), false)?;
            let mut left = size;
            while left > 0 {
                let n = left.min(CHUNK_LEN as u64);
                left -= n;
                respond.send_data(chunk.slice(..n as usize), false).await?;
            }
            respond.send_trailers(ok_trailers())?;
        }
        _ => {
            respond.send_headers(vec![HeaderField::new(":status", "404")], true)?;
        }
    }
    Ok(())
}
