//! grpc.testing.BenchmarkService, implemented once for our server and once for tonic's, with
//! the same semantics as grpc-go's benchmark server:
//!
//! - `UnaryCall`: answers with a payload of `response_size` zero octets;
//! - `StreamingCall` (ping-pong): answers each request in turn;
//! - `StreamingFromClient`: reads every request, answers once;
//! - `StreamingFromServer`: reads one request, then sends responses of its `response_size`
//!   until the client cancels;
//! - `StreamingBothWays`: the same stream of responses while reading requests concurrently.
//!
//! Payloads of up to 1 MiB are slices of one static block of zeros, so neither stack's
//! numbers include zeroing a fresh buffer per response; larger ones are allocated per call.
//! Streams build their response once and send clones of it (a `Bytes` clone is a refcount).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use grpc_server::{Request, Response, ResponseSink, Status, Streaming};
use tonic::codegen::tokio_stream::{Stream, StreamExt};

use crate::pb::{Payload, SimpleRequest, SimpleResponse};

/// Payloads up to this size share [`ZEROS`].
const STATIC_ZEROS: usize = 1024 * 1024;
static ZEROS: [u8; STATIC_ZEROS] = [0; STATIC_ZEROS];

/// A response carrying `size` zero octets (negative sizes are refused, as grpc-go does).
pub(crate) fn response_of(size: i32) -> Result<SimpleResponse, Status> {
    let size = usize::try_from(size)
        .map_err(|_| Status::invalid_argument(format!("response_size {size} is negative")))?;
    let body = if size <= STATIC_ZEROS {
        Bytes::from_static(&ZEROS[..size])
    } else {
        Bytes::from(vec![0; size])
    };
    Ok(SimpleResponse {
        payload: Some(Payload { r#type: 0, body }),
        ..SimpleResponse::default()
    })
}

/// The service on our server.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct OurBench;

impl crate::pb::benchmark_service_server::BenchmarkService for OurBench {
    async fn unary_call(
        &self,
        request: Request<SimpleRequest>,
    ) -> Result<Response<SimpleResponse>, Status> {
        Ok(Response::new(response_of(request.get_ref().response_size)?))
    }

    async fn streaming_call(
        &self,
        request: Request<Streaming<SimpleRequest>>,
        responses: &mut ResponseSink<SimpleResponse>,
    ) -> Result<(), Status> {
        let mut requests = request.into_inner();
        while let Some(request) = requests.message().await? {
            responses.send(response_of(request.response_size)?).await?;
        }
        Ok(())
    }

    async fn streaming_from_client(
        &self,
        request: Request<Streaming<SimpleRequest>>,
    ) -> Result<Response<SimpleResponse>, Status> {
        let mut requests = request.into_inner();
        while requests.message().await?.is_some() {}
        Ok(Response::new(SimpleResponse::default()))
    }

    async fn streaming_from_server(
        &self,
        request: Request<SimpleRequest>,
        responses: &mut ResponseSink<SimpleResponse>,
    ) -> Result<(), Status> {
        let response = response_of(request.get_ref().response_size)?;
        // Ends when the client cancels: the server drops this future.
        loop {
            responses.send(response.clone()).await?;
        }
    }

    async fn streaming_both_ways(
        &self,
        request: Request<Streaming<SimpleRequest>>,
        responses: &mut ResponseSink<SimpleResponse>,
    ) -> Result<(), Status> {
        let mut requests = request.into_inner();
        let Some(first) = requests.message().await? else {
            return Ok(());
        };
        let response = response_of(first.response_size)?;
        loop {
            tokio::select! {
                next = requests.message() => {
                    if next?.is_none() {
                        return Ok(());
                    }
                }
                sent = responses.send(response.clone()) => sent?,
            }
        }
    }
}

/// The service on tonic's server, written as a tonic user writes one: the generated trait,
/// response streams that map the request stream (no task per call where none is needed).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct TonicBench;

/// A boxed response stream, as tonic's examples use.
type TonicStream = Pin<Box<dyn Stream<Item = Result<SimpleResponse, tonic::Status>> + Send>>;

fn to_tonic(status: Status) -> tonic::Status {
    tonic::Status::new(
        tonic::Code::from_i32(status.code().as_i32()),
        status.message(),
    )
}

/// Sends clones of one response for as long as it is polled.
struct Repeat(SimpleResponse);

impl Stream for Repeat {
    type Item = Result<SimpleResponse, tonic::Status>;

    fn poll_next(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Poll::Ready(Some(Ok(self.0.clone())))
    }
}

#[tonic::codegen::async_trait]
impl crate::tonic_pb::benchmark_service_server::BenchmarkService for TonicBench {
    async fn unary_call(
        &self,
        request: tonic::Request<SimpleRequest>,
    ) -> Result<tonic::Response<SimpleResponse>, tonic::Status> {
        let response = response_of(request.get_ref().response_size).map_err(to_tonic)?;
        Ok(tonic::Response::new(response))
    }

    type StreamingCallStream = TonicStream;

    async fn streaming_call(
        &self,
        request: tonic::Request<tonic::Streaming<SimpleRequest>>,
    ) -> Result<tonic::Response<TonicStream>, tonic::Status> {
        let responses = request.into_inner().map(|request| {
            let request = request?;
            response_of(request.response_size).map_err(to_tonic)
        });
        Ok(tonic::Response::new(Box::pin(responses)))
    }

    async fn streaming_from_client(
        &self,
        request: tonic::Request<tonic::Streaming<SimpleRequest>>,
    ) -> Result<tonic::Response<SimpleResponse>, tonic::Status> {
        let mut requests = request.into_inner();
        while requests.message().await?.is_some() {}
        Ok(tonic::Response::new(SimpleResponse::default()))
    }

    type StreamingFromServerStream = TonicStream;

    async fn streaming_from_server(
        &self,
        request: tonic::Request<SimpleRequest>,
    ) -> Result<tonic::Response<TonicStream>, tonic::Status> {
        let response = response_of(request.get_ref().response_size).map_err(to_tonic)?;
        Ok(tonic::Response::new(Box::pin(Repeat(response))))
    }

    type StreamingBothWaysStream = TonicStream;

    async fn streaming_both_ways(
        &self,
        request: tonic::Request<tonic::Streaming<SimpleRequest>>,
    ) -> Result<tonic::Response<TonicStream>, tonic::Status> {
        let mut requests = request.into_inner();
        let Some(first) = requests.message().await? else {
            return Ok(tonic::Response::new(Box::pin(
                tonic::codegen::tokio_stream::empty(),
            )));
        };
        let response = response_of(first.response_size).map_err(to_tonic)?;
        // Read the rest of the requests beside the responses, as tonic users do: a task.
        tokio::spawn(async move { while let Ok(Some(_)) = requests.message().await {} });
        Ok(tonic::Response::new(Box::pin(Repeat(response))))
    }
}
