//! The same scenarios on the `h2` crate (client against server), used the way hyper uses
//! it: received data is released back to flow control as soon as it is read, and bulk
//! senders wait for send capacity before each chunk instead of buffering the whole body.

use std::future::poll_fn;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::counting::CountingIo;
use crate::scenario::{
    BoxError, CHUNK_LEN, Direction, Exchange, MESSAGE_LEN, PATH_DOWNLOAD, PATH_PINGPONG,
    PATH_UNARY, PATH_UPLOAD, SIZE_HEADER, Sides, Transfer, chunk, message,
};

/// How the h2 connection is configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Windows {
    /// `h2`'s builders as they come (65,535-octet stream and connection windows).
    Default,
    /// Stream and connection windows of 16 MiB on both ends (the cap our BDP estimator
    /// grows to).
    Large,
}

/// 16 MiB, the window of [`Windows::Large`].
const LARGE_WINDOW: u32 = 16 * 1024 * 1024;

type ClientIo = CountingIo<TcpStream>;

/// One h2 connection over loopback TCP.
pub(crate) struct Conn {
    /// The client's request handle.
    send_request: h2::client::SendRequest<Bytes>,
    /// The socket counters of both ends.
    pub(crate) sides: Sides,
    base: String,
    client_task: JoinHandle<Result<(), h2::Error>>,
    server: JoinHandle<Result<(), BoxError>>,
}

impl Conn {
    /// Listens on 127.0.0.1, connects, completes both handshakes and serves the benchmark
    /// routes. TCP_NODELAY is on at both ends.
    pub(crate) async fn open(windows: Windows) -> Result<Conn, BoxError> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let sides = Sides::new();
        let server_counters = sides.server.clone();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await?;
            tcp.set_nodelay(true)?;
            let mut builder = h2::server::Builder::new();
            if windows == Windows::Large {
                builder
                    .initial_window_size(LARGE_WINDOW)
                    .initial_connection_window_size(LARGE_WINDOW);
            }
            let conn = builder
                .handshake::<_, Bytes>(CountingIo::new(tcp, server_counters))
                .await?;
            serve(conn).await
        });
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let mut builder = h2::client::Builder::new();
        if windows == Windows::Large {
            builder
                .initial_window_size(LARGE_WINDOW)
                .initial_connection_window_size(LARGE_WINDOW);
        }
        let (send_request, connection) = builder
            .handshake::<ClientIo, Bytes>(CountingIo::new(tcp, sides.client.clone()))
            .await?;
        let client_task = tokio::spawn(connection);
        Ok(Conn {
            send_request,
            sides,
            base: format!("http://{addr}"),
            client_task,
            server,
        })
    }

    fn uri(&self, path: &str) -> Result<Uri, BoxError> {
        Ok(format!("{}{path}", self.base).parse()?)
    }

    /// A unary client on this connection.
    pub(crate) fn unary(&self) -> Result<Unary, BoxError> {
        Ok(Unary {
            send_request: self.send_request.clone(),
            uri: self.uri(PATH_UNARY)?,
            body: message(),
        })
    }

    /// Opens the ping-pong stream and waits for the response headers.
    pub(crate) async fn pingpong(&self) -> Result<PingPong, BoxError> {
        let mut send_request = self.send_request.clone();
        poll_fn(|cx| send_request.poll_ready(cx)).await?;
        let (response, send) =
            send_request.send_request(request(self.uri(PATH_PINGPONG)?, None)?, false)?;
        let response = response.await?;
        check_status(response.status())?;
        Ok(PingPong {
            send,
            recv: response.into_body(),
            message: message(),
        })
    }

    /// A bulk-transfer client on this connection.
    pub(crate) fn transfers(&self) -> Result<Transfers, BoxError> {
        Ok(Transfers {
            send_request: self.send_request.clone(),
            upload: self.uri(PATH_UPLOAD)?,
            download: self.uri(PATH_DOWNLOAD)?,
            chunk: chunk(),
        })
    }

    /// Drops the client handle (the connection then closes) and waits for both tasks.
    pub(crate) async fn close(self) -> Result<(), BoxError> {
        drop(self.send_request);
        let wait = async {
            self.client_task.await??;
            self.server.await?
        };
        match tokio::time::timeout(std::time::Duration::from_secs(5), wait).await {
            Ok(result) => result,
            Err(_) => Err("h2: connection did not finish within 5 s of the client closing".into()),
        }
    }
}

fn request(uri: Uri, size: Option<u64>) -> Result<Request<()>, BoxError> {
    let mut builder = Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    if let Some(size) = size {
        builder = builder.header(SIZE_HEADER, size);
    }
    Ok(builder.body(())?)
}

/// The unary exchange: 64-byte request, 200 + 64-byte response + `grpc-status: 0`.
pub(crate) struct Unary {
    send_request: h2::client::SendRequest<Bytes>,
    uri: Uri,
    body: Bytes,
}

impl Exchange for Unary {
    async fn exchange(&mut self) -> Result<(), BoxError> {
        poll_fn(|cx| self.send_request.poll_ready(cx)).await?;
        let (response, mut send) = self
            .send_request
            .send_request(request(self.uri.clone(), None)?, false)?;
        send.send_data(self.body.clone(), true)?;
        let response = response.await?;
        check_status(response.status())?;
        let mut body = response.into_body();
        let len = drain(&mut body).await?;
        if len != MESSAGE_LEN as u64 {
            return Err(format!("h2: unary response body of {len} octets").into());
        }
        check_trailers(body.trailers().await?.as_ref())
    }
}

/// One long-lived stream; each exchange sends 64 octets and waits for their echo.
pub(crate) struct PingPong {
    send: h2::SendStream<Bytes>,
    recv: h2::RecvStream,
    message: Bytes,
}

impl Exchange for PingPong {
    async fn exchange(&mut self) -> Result<(), BoxError> {
        self.send.send_data(self.message.clone(), false)?;
        let mut got = 0;
        while got < MESSAGE_LEN {
            match self.recv.data().await {
                Some(chunk) => {
                    let chunk = chunk?;
                    self.recv.flow_control().release_capacity(chunk.len())?;
                    got += chunk.len();
                }
                None => return Err("h2: ping-pong stream ended early".into()),
            }
        }
        Ok(())
    }
}

impl PingPong {
    /// Ends the stream from our side and reads the server's trailers.
    pub(crate) async fn finish(mut self) -> Result<(), BoxError> {
        self.send.send_data(Bytes::new(), true)?;
        drain(&mut self.recv).await?;
        check_trailers(self.recv.trailers().await?.as_ref())
    }
}

/// Bulk uploads and downloads, one stream each.
pub(crate) struct Transfers {
    send_request: h2::client::SendRequest<Bytes>,
    upload: Uri,
    download: Uri,
    chunk: Bytes,
}

impl Transfer for Transfers {
    async fn transfer(&mut self, direction: Direction, bytes: u64) -> Result<(), BoxError> {
        poll_fn(|cx| self.send_request.poll_ready(cx)).await?;
        match direction {
            Direction::Upload => {
                let (response, mut send) = self
                    .send_request
                    .send_request(request(self.upload.clone(), None)?, false)?;
                send_all(&mut send, &self.chunk, bytes, true).await?;
                let response = response.await?;
                check_status(response.status())?;
                let mut body = response.into_body();
                drain(&mut body).await?;
                check_trailers(body.trailers().await?.as_ref())
            }
            Direction::Download => {
                let (response, _send) = self
                    .send_request
                    .send_request(request(self.download.clone(), Some(bytes))?, true)?;
                let response = response.await?;
                check_status(response.status())?;
                let mut body = response.into_body();
                let got = drain(&mut body).await?;
                if got != bytes {
                    return Err(format!("h2: downloaded {got} of {bytes} octets").into());
                }
                check_trailers(body.trailers().await?.as_ref())
            }
        }
    }
}

/// Sends `total` octets in [`CHUNK_LEN`] pieces the way hyper does: before each chunk,
/// wait until the stream has some send capacity, then hand h2 the whole chunk (it buffers
/// what the window does not allow yet). This bounds buffering to about one chunk, like
/// our driver's per-stream buffer limit.
async fn send_all(
    send: &mut h2::SendStream<Bytes>,
    chunk: &Bytes,
    total: u64,
    end_stream: bool,
) -> Result<(), BoxError> {
    let mut left = total;
    while left > 0 {
        send.reserve_capacity(1);
        while send.capacity() == 0 {
            match poll_fn(|cx| send.poll_capacity(cx)).await {
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(error.into()),
                None => return Err("h2: stream closed while sending".into()),
            }
        }
        let n = left.min(CHUNK_LEN as u64);
        left -= n;
        send.send_data(chunk.slice(..n as usize), left == 0 && end_stream)?;
    }
    Ok(())
}

/// Reads a body to its end, releasing flow-control capacity as it goes; returns its length.
async fn drain(body: &mut h2::RecvStream) -> Result<u64, BoxError> {
    let mut got = 0u64;
    while let Some(chunk) = body.data().await {
        let chunk = chunk?;
        body.flow_control().release_capacity(chunk.len())?;
        got += chunk.len() as u64;
    }
    Ok(got)
}

fn check_status(status: StatusCode) -> Result<(), BoxError> {
    if status == StatusCode::OK {
        Ok(())
    } else {
        Err(format!("h2: response status {status}").into())
    }
}

fn check_trailers(trailers: Option<&HeaderMap>) -> Result<(), BoxError> {
    match trailers.and_then(|t| t.get("grpc-status")) {
        Some(v) if v == "0" => Ok(()),
        _ => Err("h2: response without trailers grpc-status: 0".into()),
    }
}

// ---- Server ------------------------------------------------------------------------------

async fn serve(
    mut conn: h2::server::Connection<CountingIo<TcpStream>, Bytes>,
) -> Result<(), BoxError> {
    let message = message();
    let chunk = chunk();
    while let Some(accepted) = conn.accept().await {
        let (request, respond) = accepted?;
        let (message, chunk) = (message.clone(), chunk.clone());
        tokio::spawn(async move {
            if let Err(error) = handle(request, respond, message, chunk).await {
                eprintln!("transport-bench: h2: server handler failed: {error}");
            }
        });
    }
    Ok(())
}

fn response() -> Result<Response<()>, BoxError> {
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/grpc")
        .body(())?)
}

fn ok_trailers() -> HeaderMap {
    let mut trailers = HeaderMap::with_capacity(1);
    trailers.insert("grpc-status", HeaderValue::from_static("0"));
    trailers
}

async fn handle(
    request: Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
    message: Bytes,
    chunk: Bytes,
) -> Result<(), BoxError> {
    let path = request.uri().path().to_owned();
    let size = request
        .headers()
        .get(SIZE_HEADER)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let mut body = request.into_body();
    match path.as_str() {
        PATH_UNARY => {
            drain(&mut body).await?;
            let mut send = respond.send_response(response()?, false)?;
            send.send_data(message, false)?;
            send.send_trailers(ok_trailers())?;
        }
        PATH_PINGPONG => {
            let mut send = respond.send_response(response()?, false)?;
            while let Some(data) = body.data().await {
                let data = data?;
                body.flow_control().release_capacity(data.len())?;
                if !data.is_empty() {
                    send.send_data(data, false)?;
                }
            }
            send.send_trailers(ok_trailers())?;
        }
        PATH_UPLOAD => {
            drain(&mut body).await?;
            let mut send = respond.send_response(response()?, false)?;
            send.send_trailers(ok_trailers())?;
        }
        PATH_DOWNLOAD => {
            let size = size.ok_or("h2: download without a size")?;
            drain(&mut body).await?;
            let mut send = respond.send_response(response()?, false)?;
            send_all(&mut send, &chunk, size, false).await?;
            send.send_trailers(ok_trailers())?;
        }
        _ => {
            let mut not_found = Response::new(());
            *not_found.status_mut() = StatusCode::NOT_FOUND;
            respond.send_response(not_found, true)?;
        }
    }
    Ok(())
}
