//! gRPC server reflection for grpc-rust servers: the `grpc.reflection.v1` and
//! `grpc.reflection.v1alpha` `ServerReflection` services (gRPC's
//! `doc/server-reflection.md`), so that grpcurl, Postman and other tools can list a server's
//! services, describe them and call them without the `.proto` files.
//!
//! The answers come from encoded `google.protobuf.FileDescriptorSet`s, the ones grpc-codegen
//! writes next to the generated code. Register each with a [`Builder`], build, and add the
//! result to the server: one [`Reflection`] value serves both protocol versions (v1, and
//! v1alpha for older clients such as grpcurl 1.8).
//!
//! # Getting the descriptors
//!
//! Ask grpc-codegen for the descriptor set in `build.rs`:
//!
//! ```no_run
//! // build.rs
//! fn main() -> std::io::Result<()> {
//!     let out_dir = std::env::var("OUT_DIR").map_err(std::io::Error::other)?;
//!     let out_dir = std::path::Path::new(&out_dir);
//!     grpc_codegen::configure()
//!         .file_descriptor_set_path(out_dir.join("greeter_descriptor.bin"))
//!         .compile(&["proto/greeter/v1/greeter.proto"], &["proto"])
//! }
//! ```
//!
//! and include its bytes next to the generated code:
//!
//! ```ignore
//! pub const FILE_DESCRIPTOR_SET: &[u8] =
//!     include_bytes!(concat!(env!("OUT_DIR"), "/greeter_descriptor.bin"));
//! ```
//!
//! The set holds the compiled files and everything they import (well-known types
//! included), with their comments, which `grpcurl describe` shows.
//!
//! # Serving reflection
//!
//! ```
//! use grpc_client::codec::ProstCodec;
//! use grpc_client::{Channel, Request};
//! use grpc_reflection::pb::v1::server_reflection_request::MessageRequest;
//! use grpc_reflection::pb::v1::server_reflection_response::MessageResponse;
//! use grpc_reflection::pb::v1::{ServerReflectionRequest, ServerReflectionResponse};
//!
//! # // Stands in for the application's own descriptor set.
//! # const GREETER_DESCRIPTORS: &[u8] = grpc_reflection::FILE_DESCRIPTOR_SET;
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let reflection = grpc_reflection::Builder::new()
//!     .register_file_descriptor_set(GREETER_DESCRIPTORS)
//!     .build()?;
//! let server = grpc_server::Server::builder()
//!     // .add_service(GreeterServer::new(MyGreeter))
//!     .add_service(reflection)
//!     .bind("127.0.0.1:0".parse()?)
//!     .await?;
//! let addr = server.local_addr();
//! let handle = server.handle();
//! tokio::spawn(server.serve());
//!
//! // What grpcurl's `list` does: one request on the reflection stream.
//! let channel = Channel::builder(&format!("http://{addr}")).connect().await?;
//! let mut call = channel
//!     .streaming(
//!         Request::new(()),
//!         "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
//!         ProstCodec::<ServerReflectionRequest, ServerReflectionResponse>::default(),
//!     )
//!     .await?;
//! call.send(ServerReflectionRequest {
//!     host: String::new(),
//!     message_request: Some(MessageRequest::ListServices(String::new())),
//! })
//! .await?;
//! let response = call.message().await?.ok_or("no response")?;
//! let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
//!     return Err("not a service list".into());
//! };
//! let names: Vec<&str> = list.service.iter().map(|s| s.name.as_str()).collect();
//! assert_eq!(
//!     names,
//!     ["grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"]
//! );
//! handle.stop();
//! # Ok(())
//! # }
//! ```
//!
//! # What it answers
//!
//! On each `ServerReflectionInfo` stream, every request gets one response, in order:
//!
//! - `list_services`: the full names of the services declared in the registered files
//!   (sorted), the reflection services themselves included;
//! - `file_by_filename`, `file_containing_symbol` (a service, method, message, field,
//!   oneof, enum, enum value or extension, nested ones too), `file_containing_extension`: the
//!   file, encoded as it was registered, followed by the registered files it imports,
//!   directly or not. Imports go out once per stream (as grpc-go does; the protocol allows
//!   leaving out files sent earlier); the file asked for always goes out;
//! - `all_extension_numbers_of_type`: the numbers of the known extensions of a message type,
//!   sorted (an empty list for a message nothing extends);
//! - an `error_response` with NOT_FOUND for an unknown file, symbol, extension or message
//!   type; the stream stays open.
//!
//! A request with none of these set (from a client speaking a newer protocol, say) ends the
//! call with INVALID_ARGUMENT, as grpc-go does.
//!
//! The index is built once; streams share it without locks and only clone `Bytes` handles
//! of the stored files.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use grpc_server::{GrpcService, Routes};

mod index;
mod service;

use index::{Index, IndexBuilder};

/// The reflection protos' messages and server traits, generated by grpc-codegen.
pub mod pb {
    /// `grpc.reflection.v1`: the messages, and the `ServerReflection` server trait and
    /// adapter.
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/grpc.reflection.v1.rs"));
    }

    /// `grpc.reflection.v1alpha`: the server trait and adapter. Its messages are the v1
    /// ones, re-exported here: the two versions' messages have the same fields with the
    /// same numbers, so they are the same bytes on the wire.
    pub mod v1alpha {
        pub use super::v1::{
            ErrorResponse, ExtensionNumberResponse, ExtensionRequest, FileDescriptorResponse,
            ListServiceResponse, ServerReflectionRequest, ServerReflectionResponse,
            ServiceResponse, server_reflection_request, server_reflection_response,
        };

        include!(concat!(env!("OUT_DIR"), "/grpc.reflection.v1alpha.rs"));
    }
}

/// The encoded `FileDescriptorSet` of the reflection protos themselves
/// (`grpc/reflection/v1/reflection.proto` and `grpc/reflection/v1alpha/reflection.proto`).
/// The services built here register the files of the versions they serve on their own.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/reflection_descriptor.bin"));

/// The full name of the v1 service, `grpc.reflection.v1.ServerReflection`.
pub const V1_SERVICE_NAME: &str = pb::v1::server_reflection_server::SERVICE_NAME;

/// The full name of the v1alpha service, `grpc.reflection.v1alpha.ServerReflection`.
pub const V1ALPHA_SERVICE_NAME: &str = pb::v1alpha::server_reflection_server::SERVICE_NAME;

const V1_FILE: &str = "grpc/reflection/v1/reflection.proto";
const V1ALPHA_FILE: &str = "grpc/reflection/v1alpha/reflection.proto";

/// A descriptor set could not be registered: it is not an encoded `FileDescriptorSet`, or
/// its files clash with ones registered before.
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    message: String,
}

impl Error {
    pub(crate) fn new(message: impl Into<String>) -> Error {
        Error {
            message: message.into(),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "grpc_reflection::Error({:?})", self.message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "reflection: {}", self.message)
    }
}

impl std::error::Error for Error {}

/// Collects the descriptor sets a reflection service answers from; [`build`](Builder::build)
/// makes the service.
///
/// Files are known by name: a file registered again (two sets sharing an import) is
/// skipped. A symbol declared by two different files is an error, reported by the `build`
/// methods.
#[derive(Default)]
pub struct Builder {
    sets: Vec<Bytes>,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("descriptor_sets", &self.sets.len())
            .finish()
    }
}

impl Builder {
    /// A builder with no descriptors yet (the reflection protos are added by the `build`
    /// methods).
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Registers the files of an encoded `google.protobuf.FileDescriptorSet`, such as the one
    /// grpc-codegen writes with `file_descriptor_set_path`. A `&'static [u8]` (from
    /// `include_bytes!`) is used in place, without a copy. Checked by the `build` methods.
    #[must_use]
    pub fn register_file_descriptor_set(mut self, encoded: impl Into<Bytes>) -> Builder {
        self.sets.push(encoded.into());
        self
    }

    /// The service for both protocol versions: `grpc.reflection.v1.ServerReflection` and
    /// `grpc.reflection.v1alpha.ServerReflection`, added to a server in one
    /// `add_service` call.
    ///
    /// # Errors
    ///
    /// A registered set that is not an encoded `FileDescriptorSet`, holds a file with no
    /// name, or declares a symbol that another registered file declares too.
    pub fn build(self) -> Result<Reflection, Error> {
        Ok(Reflection {
            index: self.index(&[V1_FILE, V1ALPHA_FILE])?,
        })
    }

    /// Only `grpc.reflection.v1.ServerReflection`.
    ///
    /// # Errors
    ///
    /// As [`build`](Builder::build).
    pub fn build_v1(self) -> Result<ReflectionV1, Error> {
        Ok(ReflectionV1 {
            index: self.index(&[V1_FILE])?,
        })
    }

    /// Only `grpc.reflection.v1alpha.ServerReflection` (for clients that speak nothing
    /// newer).
    ///
    /// # Errors
    ///
    /// As [`build`](Builder::build).
    pub fn build_v1alpha(self) -> Result<ReflectionV1Alpha, Error> {
        Ok(ReflectionV1Alpha {
            index: self.index(&[V1ALPHA_FILE])?,
        })
    }

    /// Indexes the registered sets, then the reflection protos of the served versions (so
    /// that `list_services` names them and clients can describe them).
    fn index(self, own_files: &[&str]) -> Result<Arc<Index>, Error> {
        let mut builder = IndexBuilder::default();
        for set in self.sets {
            builder.add_encoded_set(set, |_| true)?;
        }
        builder.add_encoded_set(Bytes::from_static(FILE_DESCRIPTOR_SET), |name| {
            own_files.contains(&name)
        })?;
        Ok(Arc::new(builder.finish()))
    }
}

/// Both reflection services, `grpc.reflection.v1.ServerReflection` and
/// `grpc.reflection.v1alpha.ServerReflection`, over one index: give it to the server
/// builder's `add_service`. From [`Builder::build`]; clones share the index.
#[derive(Clone)]
pub struct Reflection {
    index: Arc<Index>,
}

/// `grpc.reflection.v1.ServerReflection` alone. From [`Builder::build_v1`].
#[derive(Clone)]
pub struct ReflectionV1 {
    index: Arc<Index>,
}

/// `grpc.reflection.v1alpha.ServerReflection` alone. From [`Builder::build_v1alpha`].
#[derive(Clone)]
pub struct ReflectionV1Alpha {
    index: Arc<Index>,
}

impl Reflection {
    /// The services `list_services` answers with, sorted.
    pub fn service_names(&self) -> impl Iterator<Item = &str> {
        self.index.services().iter().map(String::as_str)
    }
}

impl ReflectionV1 {
    /// The services `list_services` answers with, sorted.
    pub fn service_names(&self) -> impl Iterator<Item = &str> {
        self.index.services().iter().map(String::as_str)
    }
}

impl ReflectionV1Alpha {
    /// The services `list_services` answers with, sorted.
    pub fn service_names(&self) -> impl Iterator<Item = &str> {
        self.index.services().iter().map(String::as_str)
    }
}

impl fmt::Debug for Reflection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reflection")
            .field("services", &self.index.services())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for ReflectionV1 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReflectionV1")
            .field("services", &self.index.services())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for ReflectionV1Alpha {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReflectionV1Alpha")
            .field("services", &self.index.services())
            .finish_non_exhaustive()
    }
}

impl GrpcService for Reflection {
    const NAME: &'static str = V1_SERVICE_NAME;

    fn register(self, routes: &mut Routes) {
        // Through `add_service`, so the server knows both names (an unknown method of
        // either is reported as such).
        routes.add_service(ReflectionV1 {
            index: Arc::clone(&self.index),
        });
        routes.add_service(ReflectionV1Alpha { index: self.index });
    }
}

impl GrpcService for ReflectionV1 {
    const NAME: &'static str = V1_SERVICE_NAME;

    fn register(self, routes: &mut Routes) {
        let server =
            pb::v1::server_reflection_server::ServerReflectionServer::new(service::Handler {
                index: self.index,
            });
        server.register(routes);
    }
}

impl GrpcService for ReflectionV1Alpha {
    const NAME: &'static str = V1ALPHA_SERVICE_NAME;

    fn register(self, routes: &mut Routes) {
        let server =
            pb::v1alpha::server_reflection_server::ServerReflectionServer::new(service::Handler {
                index: self.index,
            });
        server.register(routes);
    }
}
