//! The floor under every 1x1 latency: a length-prefixed echo over plain TCP between the same
//! pinned CPUs, with the same tokio runtime shape as the gRPC servers and clients, and no
//! HTTP/2 or gRPC at all. Whatever a gRPC stack adds to a round trip is measured on top of
//! this.
//!
//! Frame: a 4-octet big-endian length, then that many octets; the server sends each frame
//! back unchanged.

use std::net::SocketAddr;
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::BoxError;
use crate::load::{LoadArgs, LoadResult};

/// Serves the echo on `listener` until the process ends.
pub(crate) async fn serve(listener: TcpListener) -> Result<(), BoxError> {
    loop {
        let (mut socket, _) = listener.accept().await?;
        socket.set_nodelay(true)?;
        tokio::spawn(async move {
            let mut buf = Vec::new();
            loop {
                let Ok(len) = socket.read_u32().await else {
                    return;
                };
                buf.resize(len as usize, 0);
                if socket.read_exact(&mut buf).await.is_err() {
                    return;
                }
                let mut frame = Vec::with_capacity(4 + buf.len());
                frame.extend_from_slice(&len.to_be_bytes());
                frame.extend_from_slice(&buf);
                if socket.write_all(&frame).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// One connection, one frame of `size` octets in flight, for the load's window.
pub(crate) async fn round_trips(
    args: &LoadArgs,
    target: SocketAddr,
) -> Result<LoadResult, BoxError> {
    let mut socket = TcpStream::connect(target).await?;
    socket.set_nodelay(true)?;
    let len = u32::try_from(args.size)?;
    let mut frame = len.to_be_bytes().to_vec();
    frame.resize(4 + args.size, 0x5a);
    let mut echo = vec![0; frame.len()];
    let start = Instant::now();
    let measure_from = start + args.warmup;
    let end = measure_from + args.duration;
    let mut latencies = Vec::new();
    loop {
        let started = Instant::now();
        if started >= end {
            break;
        }
        socket.write_all(&frame).await?;
        socket.read_exact(&mut echo).await?;
        if started >= measure_from {
            latencies.push(u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX));
        }
    }
    if echo != frame {
        return Err("the echo differs from the frame sent".into());
    }
    Ok(crate::load::finish(
        LoadResult::default(),
        latencies,
        args.duration.as_secs_f64(),
        2 * args.size as u64,
    ))
}
