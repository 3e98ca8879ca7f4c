//! The `ServerReflectionInfo` handler, the same for both protocol versions (their messages
//! are one set of types, see `pb::v1alpha`).

use std::sync::Arc;

use bytes::Bytes;
use grpc_server::{Code, Request, ResponseSink, Status, Streaming};

use crate::index::{Index, NotFound, SentFiles};
use crate::pb::v1::server_reflection_request::MessageRequest;
use crate::pb::v1::server_reflection_response::MessageResponse;
use crate::pb::v1::{
    ErrorResponse, ExtensionNumberResponse, FileDescriptorResponse, ListServiceResponse,
    ServerReflectionRequest, ServerReflectionResponse, ServiceResponse,
};

/// Implements both versions' server traits over one index.
#[derive(Debug)]
pub(crate) struct Handler {
    pub(crate) index: Arc<Index>,
}

impl crate::pb::v1::server_reflection_server::ServerReflection for Handler {
    async fn server_reflection_info(
        &self,
        request: Request<Streaming<ServerReflectionRequest>>,
        responses: &mut ResponseSink<ServerReflectionResponse>,
    ) -> Result<(), Status> {
        serve(&self.index, request, responses).await
    }
}

impl crate::pb::v1alpha::server_reflection_server::ServerReflection for Handler {
    async fn server_reflection_info(
        &self,
        request: Request<Streaming<ServerReflectionRequest>>,
        responses: &mut ResponseSink<ServerReflectionResponse>,
    ) -> Result<(), Status> {
        serve(&self.index, request, responses).await
    }
}

/// Answers each request in turn until the client half-closes (then OK).
async fn serve(
    index: &Index,
    request: Request<Streaming<ServerReflectionRequest>>,
    responses: &mut ResponseSink<ServerReflectionResponse>,
) -> Result<(), Status> {
    let mut requests = request.into_inner();
    let mut sent = index.new_stream();
    while let Some(request) = requests.message().await? {
        let response = answer(index, request, &mut sent)?;
        responses.send(response).await?;
    }
    Ok(())
}

/// The response to one request: the answer, or an `error_response` with NOT_FOUND when
/// the file, symbol, extension or type is unknown (the stream goes on). A request that sets
/// no `message_request` ends the call with INVALID_ARGUMENT, as grpc-go's does.
pub(crate) fn answer(
    index: &Index,
    request: ServerReflectionRequest,
    sent: &mut SentFiles,
) -> Result<ServerReflectionResponse, Status> {
    let answer = match &request.message_request {
        Some(MessageRequest::FileByFilename(name)) => index.file_by_filename(name, sent).map(files),
        Some(MessageRequest::FileContainingSymbol(symbol)) => {
            index.file_containing_symbol(symbol, sent).map(files)
        }
        Some(MessageRequest::FileContainingExtension(extension)) => index
            .file_containing_extension(&extension.containing_type, extension.extension_number, sent)
            .map(files),
        Some(MessageRequest::AllExtensionNumbersOfType(extendee)) => {
            index.extension_numbers(extendee).map(|numbers| {
                MessageResponse::AllExtensionNumbersResponse(ExtensionNumberResponse {
                    base_type_name: extendee.clone(),
                    extension_number: numbers,
                })
            })
        }
        Some(MessageRequest::ListServices(_)) => {
            Ok(MessageResponse::ListServicesResponse(ListServiceResponse {
                service: index
                    .services()
                    .iter()
                    .map(|name| ServiceResponse { name: name.clone() })
                    .collect(),
            }))
        }
        None => {
            return Err(Status::invalid_argument(
                "reflection request sets none of the message_request fields",
            ));
        }
    };
    let message_response = answer.unwrap_or_else(|NotFound(message)| {
        MessageResponse::ErrorResponse(ErrorResponse {
            error_code: Code::NotFound.as_i32(),
            error_message: message,
        })
    });
    Ok(ServerReflectionResponse {
        valid_host: request.host.clone(),
        original_request: Some(request),
        message_response: Some(message_response),
    })
}

fn files(encoded: Vec<Bytes>) -> MessageResponse {
    MessageResponse::FileDescriptorResponse(FileDescriptorResponse {
        file_descriptor_proto: encoded,
    })
}
