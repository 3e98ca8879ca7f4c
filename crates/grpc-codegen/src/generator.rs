//! The prost-build [`ServiceGenerator`](prost_build::ServiceGenerator): one `*_server` and one
//! `*_client` module per protobuf service.
//!
//! The shapes are those of the issue 4 API contract: a server trait with one method per RPC
//! returning `impl Future + Send`, a `XServer<T>` adapter implementing
//! `grpc_server::GrpcService`, and a `XClient` wrapping a `grpc_client::Channel`. Every path
//! the generated code names is absolute (`::core::...`, `::std::...`, the configured crate
//! paths) or a message type reached through `super::`, so messages called `Result`, `Status`
//! or `Arc` cannot shadow anything.

use prost_build::{Method, Service};

use crate::docs;
use crate::naming::{client_method_name, message_path, to_snake_case};

/// Lints allowed on every generated module: lints that generated code can trip under strict
/// user settings and that the user could not fix there anyway. `deprecated`: the module's own
/// uses of items deprecated in the .proto. `unused_qualifications`: every path is absolute on
/// purpose. `unreachable_pub`: the user decides where the code is reachable from.
/// `clippy::style`: names come from the .proto (an RPC called `New` gives `fn new(&self, ..)`).
/// Clippy's correctness, suspicious, complexity and perf groups stay on.
const MODULE_ALLOWS: &str = "#[allow(
    deprecated,
    unused_qualifications,
    unreachable_pub,
    clippy::style,
    clippy::pedantic,
    clippy::nursery
)]";

/// Emits gRPC server and client code for the services prost-build finds.
///
/// [`Builder`](crate::Builder) installs one of these for you. Construct one yourself (with
/// [`Builder::service_generator`](crate::Builder::service_generator)) only to drive a
/// [`prost_build::Config`] of your own:
///
/// ```no_run
/// let mut config = grpc_codegen::prost_build::Config::new();
/// config.service_generator(Box::new(grpc_codegen::configure().service_generator()));
/// ```
#[derive(Debug, Clone)]
pub struct ServiceGenerator {
    pub(crate) build_client: bool,
    pub(crate) build_server: bool,
    pub(crate) server_path: String,
    pub(crate) client_path: String,
}

impl Default for ServiceGenerator {
    fn default() -> Self {
        ServiceGenerator {
            build_client: true,
            build_server: true,
            server_path: "::grpc_server".to_owned(),
            client_path: "::grpc_client".to_owned(),
        }
    }
}

impl prost_build::ServiceGenerator for ServiceGenerator {
    fn generate(&mut self, service: Service, buf: &mut String) {
        let service = ServiceModel::new(&service);
        if self.build_server {
            self.server(&service, buf);
        }
        if self.build_client {
            self.client(&service, buf);
        }
    }
}

/// The four RPC shapes (gRPC: unary, server streaming, client streaming, bidirectional).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Unary,
    ServerStreaming,
    ClientStreaming,
    Streaming,
}

/// What the emitters need to know about a service, with names and paths worked out once.
struct ServiceModel {
    /// Fully qualified protobuf name, `demo.v1.Greeter` (no package: `Greeter`).
    full_name: String,
    /// Rust type name for the trait, `Greeter` (prost-build's keyword-safe UpperCamel name).
    trait_name: String,
    /// Module stem, `greeter` (for `greeter_server` / `greeter_client`).
    module_stem: String,
    docs: Vec<String>,
    deprecated: bool,
    methods: Vec<MethodModel>,
}

struct MethodModel {
    /// Name of the server trait method (prost-build's keyword-safe snake case, `say_hello`).
    server_name: String,
    /// Name of the client method (as `server_name`, unless that clashes with the client's own).
    client_name: String,
    /// `/demo.v1.Greeter/SayHello`.
    path: String,
    /// Request and response message types as seen from the generated modules.
    input: String,
    output: String,
    kind: Kind,
    docs: Vec<String>,
    deprecated: bool,
}

impl ServiceModel {
    fn new(service: &Service) -> ServiceModel {
        let full_name = if service.package.is_empty() {
            service.proto_name.clone()
        } else {
            format!("{}.{}", service.package, service.proto_name)
        };
        let methods = service
            .methods
            .iter()
            .map(|method| MethodModel::new(&full_name, method))
            .collect();
        ServiceModel {
            trait_name: service.name.clone(),
            module_stem: to_snake_case(&service.name),
            docs: docs::comment_lines(&service.comments),
            deprecated: service.options.deprecated(),
            methods,
            full_name,
        }
    }

    /// `GreeterServer`. prost-build's keyword escapes (`Self_`) are dropped: `SelfServer` is
    /// a fine name, `Self_Server` would trip `non_camel_case_types`.
    fn server_struct(&self) -> String {
        format!("{}Server", self.type_stem())
    }

    /// `GreeterClient`.
    fn client_struct(&self) -> String {
        format!("{}Client", self.type_stem())
    }

    fn type_stem(&self) -> &str {
        self.trait_name
            .trim_start_matches("r#")
            .trim_end_matches('_')
    }
}

impl MethodModel {
    fn new(full_service_name: &str, method: &Method) -> MethodModel {
        let kind = match (method.client_streaming, method.server_streaming) {
            (false, false) => Kind::Unary,
            (false, true) => Kind::ServerStreaming,
            (true, false) => Kind::ClientStreaming,
            (true, true) => Kind::Streaming,
        };
        MethodModel {
            server_name: method.name.clone(),
            client_name: client_method_name(&method.name),
            path: format!("/{full_service_name}/{}", method.proto_name),
            input: message_path(&method.input_type),
            output: message_path(&method.output_type),
            kind,
            docs: docs::comment_lines(&method.comments),
            deprecated: method.options.deprecated(),
        }
    }
}

/// A string buffer that writes indented lines.
struct Code<'a> {
    buf: &'a mut String,
    depth: usize,
}

impl Code<'_> {
    fn line(&mut self, text: &str) {
        if text.is_empty() {
            self.buf.push('\n');
            return;
        }
        for _ in 0..self.depth {
            self.buf.push_str("    ");
        }
        self.buf.push_str(text);
        self.buf.push('\n');
    }

    /// Writes several lines (split on `\n`) at the current depth.
    fn lines(&mut self, text: &str) {
        for line in text.split('\n') {
            self.line(line);
        }
    }

    fn open(&mut self, text: &str) {
        self.line(text);
        self.depth += 1;
    }

    fn close(&mut self, text: &str) {
        self.depth = self.depth.saturating_sub(1);
        self.line(text);
    }

    /// Writes `text` one level out, and goes back in: `) -> T {` after parameters.
    fn close_open(&mut self, text: &str) {
        self.close(text);
        self.depth += 1;
    }

    fn dedent(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// Writes doc comment lines: the .proto comment (already sanitized) and then, after a blank
    /// line when both are present, generated text.
    /// Opens `pub mod <stem>_<side>` with its doc line, the lint allowances and the
    /// `SERVICE_NAME` constant (the start both halves of a service share).
    fn open_module(&mut self, service: &ServiceModel, side: &str, doc: &str) {
        let full = &service.full_name;
        self.docs(&[], &[doc.to_owned()]);
        self.lines(MODULE_ALLOWS);
        self.open(&format!("pub mod {}_{side} {{", service.module_stem));
        self.line(&format!(
            "/// The fully qualified name of the service, `{full}`."
        ));
        self.line(&format!(
            "pub const SERVICE_NAME: &str = {};",
            literal(full)
        ));
        self.line("");
    }

    fn docs(&mut self, proto: &[String], generated: &[String]) {
        for line in proto {
            self.doc_line(line);
        }
        if !proto.is_empty() && !generated.is_empty() {
            self.doc_line("");
        }
        for line in generated {
            self.doc_line(line);
        }
    }

    fn doc_line(&mut self, line: &str) {
        if line.is_empty() {
            self.line("///");
        } else {
            self.line(&format!("/// {line}"));
        }
    }
}

/// A Rust string literal for `value` (the names in it are protobuf identifiers and dots, but
/// escaping costs nothing).
fn literal(value: &str) -> String {
    format!("{value:?}")
}

/// The codec value: `ProstCodec<Encode, Decode>`'s `Default`, named through the trait so that
/// a service called `Default` (whose trait would shadow the prelude's) changes nothing.
fn codec(core: &str, encode: &str, decode: &str) -> String {
    format!(
        "<{core}::codec::ProstCodec<{encode}, {decode}> as ::core::default::Default>::default()"
    )
}

impl ServiceGenerator {
    fn server(&self, service: &ServiceModel, buf: &mut String) {
        let s = &self.server_path;
        let c = s;
        let full = &service.full_name;
        let trait_name = &service.trait_name;
        let server = service.server_struct();
        let arc = "::std::sync::Arc";
        let mut code = Code { buf, depth: 0 };

        code.open_module(
            service,
            "server",
            &format!(
                "Server side of the `{full}` gRPC service: implement the `{trait_name}` trait \
                 and serve it with `{server}`."
            ),
        );

        // The trait.
        code.docs(
            &service.docs,
            &[format!(
                "The `{full}` service. Implement this trait and register the implementation \
                 with a server through [`{server}`]."
            )],
        );
        if service.deprecated {
            code.line("#[deprecated]");
        }
        code.open(&format!(
            "pub trait {trait_name}: ::core::marker::Send + ::core::marker::Sync + 'static {{"
        ));
        for (i, method) in service.methods.iter().enumerate() {
            if i > 0 {
                code.line("");
            }
            self.server_method(&mut code, method);
        }
        code.close("}");
        code.line("");

        // The adapter struct.
        code.docs(
            &[],
            &[
                format!("Serves a [`{trait_name}`] implementation as the `{full}` service."),
                String::new(),
                "Give it to the server builder's `add_service`. Clones share the \
                 implementation (an `Arc`)."
                    .to_owned(),
            ],
        );
        code.open(&format!("pub struct {server}<T> {{"));
        code.line("/// The implementation, shared by every call.");
        code.line(&format!("inner: {arc}<T>,"));
        code.close("}");
        code.line("");

        code.open(&format!("impl<T: {trait_name}> {server}<T> {{"));
        code.line(&format!("/// Serves `inner` as the `{full}` service."));
        code.open("pub fn new(inner: T) -> Self {");
        code.line(&format!("Self::from_arc({arc}::new(inner))"));
        code.close("}");
        code.line("");
        code.line("/// Serves an implementation that is already shared.");
        code.open(&format!("pub fn from_arc(inner: {arc}<T>) -> Self {{"));
        code.line("Self { inner }");
        code.close("}");
        code.close("}");
        code.line("");

        code.open(&format!("impl<T> ::core::clone::Clone for {server}<T> {{"));
        code.open("fn clone(&self) -> Self {");
        code.line(&format!("Self {{ inner: {arc}::clone(&self.inner) }}"));
        code.close("}");
        code.close("}");
        code.line("");

        code.open(&format!("impl<T> ::core::fmt::Debug for {server}<T> {{"));
        code.open("fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {");
        code.line(&format!(
            "f.debug_struct({}).finish_non_exhaustive()",
            literal(&server)
        ));
        code.close("}");
        code.close("}");
        code.line("");

        // Registration.
        code.open(&format!(
            "impl<T: {trait_name}> {s}::GrpcService for {server}<T> {{"
        ));
        code.line("const NAME: &'static str = SERVICE_NAME;");
        code.line("");
        if service.methods.is_empty() {
            code.line(&format!(
                "fn register(self, _routes: &mut {s}::Routes) {{}}"
            ));
        } else {
            code.open(&format!("fn register(self, routes: &mut {s}::Routes) {{"));
            for method in &service.methods {
                let codec = codec(c, &method.output, &method.input);
                let call = format!("<T as {trait_name}>::{}", method.server_name);
                let (route, params, body) = match method.kind {
                    Kind::Unary => (
                        "unary",
                        "request",
                        format!("async move {{ {call}(&inner, request).await }}"),
                    ),
                    Kind::ClientStreaming => (
                        "client_streaming",
                        "request",
                        format!("async move {{ {call}(&inner, request).await }}"),
                    ),
                    Kind::ServerStreaming => (
                        "server_streaming",
                        "request, responses",
                        format!(
                            "::std::boxed::Box::pin(async move {{ {call}(&inner, request, responses).await }})"
                        ),
                    ),
                    Kind::Streaming => (
                        "streaming",
                        "request, responses",
                        format!(
                            "::std::boxed::Box::pin(async move {{ {call}(&inner, request, responses).await }})"
                        ),
                    ),
                };
                code.open("{");
                code.line(&format!("let inner = {arc}::clone(&self.inner);"));
                code.open(&format!("routes.{route}("));
                code.line(&format!("{},", literal(&method.path)));
                code.line(&format!("{codec},"));
                code.open(&format!("move |{params}| {{"));
                code.line(&format!("let inner = {arc}::clone(&inner);"));
                code.line(&body);
                code.close("},");
                code.close(");");
                code.close("}");
            }
            code.close("}");
        }
        code.close("}");
        code.close("}");
    }

    fn server_method(&self, code: &mut Code<'_>, method: &MethodModel) {
        let s = &self.server_path;
        let path = &method.path;
        let generated = match method.kind {
            Kind::Unary => format!("Unary RPC `{path}`."),
            Kind::ClientStreaming => {
                format!("Client-streaming RPC `{path}`: read the request messages from `request`.")
            }
            Kind::ServerStreaming => format!(
                "Server-streaming RPC `{path}`: send the response messages on `responses`; \
                 returning `Ok(())` ends the call with status OK."
            ),
            Kind::Streaming => format!(
                "Bidirectional-streaming RPC `{path}`: read the request messages from \
                 `request` and send the responses on `responses`."
            ),
        };
        code.docs(&method.docs, &[generated]);
        if method.deprecated {
            code.line("#[deprecated]");
        }
        let (input, output) = (&method.input, &method.output);
        let result = |ok: &str| {
            format!(
                "impl ::core::future::Future<Output = ::core::result::Result<{ok}, {s}::Status>> + ::core::marker::Send"
            )
        };
        let (params, ret) = match method.kind {
            Kind::Unary => (
                format!("request: {s}::Request<{input}>"),
                result(&format!("{s}::Response<{output}>")),
            ),
            Kind::ClientStreaming => (
                format!("request: {s}::Request<{s}::Streaming<{input}>>"),
                result(&format!("{s}::Response<{output}>")),
            ),
            Kind::ServerStreaming => (
                format!(
                    "request: {s}::Request<{input}>,\nresponses: &mut {s}::ResponseSink<{output}>"
                ),
                result("()"),
            ),
            Kind::Streaming => (
                format!(
                    "request: {s}::Request<{s}::Streaming<{input}>>,\nresponses: &mut {s}::ResponseSink<{output}>"
                ),
                result("()"),
            ),
        };
        code.open(&format!("fn {}(", method.server_name));
        code.line("&self,");
        code.lines(&format!("{params},"));
        code.close(&format!(") -> {ret};"));
    }

    fn client(&self, service: &ServiceModel, buf: &mut String) {
        let cl = &self.client_path;
        let full = &service.full_name;
        let client = service.client_struct();
        let mut code = Code { buf, depth: 0 };

        code.open_module(
            service,
            "client",
            &format!("Client side of the `{full}` gRPC service: `{client}`."),
        );

        code.docs(
            &service.docs,
            &[format!(
                "A client for the `{full}` service. Cheap to clone: clones share the channel."
            )],
        );
        if service.deprecated {
            code.line("#[deprecated]");
        }
        code.line("#[derive(Clone, Debug)]");
        code.open(&format!("pub struct {client} {{"));
        code.line("/// The channel every call goes through.");
        code.line(&format!("inner: {cl}::Channel,"));
        code.close("}");
        code.line("");

        code.open(&format!("impl {client} {{"));
        code.line("/// A client that makes its calls on `channel`.");
        code.open(&format!("pub fn new(channel: {cl}::Channel) -> Self {{"));
        code.line("Self { inner: channel }");
        code.close("}");
        code.line("");
        code.line("/// Connects a new channel to `target` (for example `http://127.0.0.1:50051`)");
        code.line("/// with default settings. Fails with `UNAVAILABLE` if it cannot connect.");
        code.open(&format!(
            "pub async fn connect(target: &str) -> ::core::result::Result<Self, {cl}::Status> {{"
        ));
        code.line(&format!(
            "{cl}::Channel::builder(target).connect().await.map(Self::new)"
        ));
        code.close("}");
        code.line("");
        code.line("/// The channel this client makes its calls on.");
        code.open(&format!("pub fn channel(&self) -> &{cl}::Channel {{"));
        code.line("&self.inner");
        code.close("}");
        for method in &service.methods {
            code.line("");
            self.client_method(&mut code, method);
        }
        code.close("}");
        code.line("");

        code.open(&format!(
            "impl ::core::convert::From<{cl}::Channel> for {client} {{"
        ));
        code.open(&format!("fn from(channel: {cl}::Channel) -> Self {{"));
        code.line("Self::new(channel)");
        code.close("}");
        code.close("}");
        code.close("}");
    }

    fn client_method(&self, code: &mut Code<'_>, method: &MethodModel) {
        let cl = &self.client_path;
        let c = cl;
        let path = &method.path;
        let (input, output) = (&method.input, &method.output);
        let mut generated = vec![match method.kind {
            Kind::Unary => format!("Unary RPC `{path}`."),
            Kind::ServerStreaming => format!(
                "Server-streaming RPC `{path}`: the response carries the stream of response \
                 messages."
            ),
            Kind::ClientStreaming => format!(
                "Client-streaming RPC `{path}`: `request` carries only the call's metadata and \
                 options; send the messages on the returned call, then `finish` it for the \
                 response."
            ),
            Kind::Streaming => format!(
                "Bidirectional-streaming RPC `{path}`: `request` carries only the call's \
                 metadata and options; send and receive messages on the returned call."
            ),
        }];
        if method.client_name != method.server_name {
            generated.push(String::new());
            generated.push(format!(
                "Named `{}` because `{}` is one of the client's own methods.",
                method.client_name, method.server_name
            ));
        }
        code.docs(&method.docs, &generated);
        if method.deprecated {
            code.line("#[deprecated]");
        }
        let (request_type, ok, channel_method) = match method.kind {
            Kind::Unary => (input.clone(), format!("{cl}::Response<{output}>"), "unary"),
            Kind::ServerStreaming => (
                input.clone(),
                format!("{cl}::Response<{cl}::Streaming<{output}>>"),
                "server_streaming",
            ),
            Kind::ClientStreaming => (
                "()".to_owned(),
                format!("{cl}::ClientStreamingCall<{input}, {output}>"),
                "client_streaming",
            ),
            Kind::Streaming => (
                "()".to_owned(),
                format!("{cl}::BidiStreamingCall<{input}, {output}>"),
                "streaming",
            ),
        };
        code.open(&format!("pub async fn {}(", method.client_name));
        code.line("&self,");
        code.line(&format!("request: impl {cl}::IntoRequest<{request_type}>,"));
        code.close_open(&format!(
            ") -> ::core::result::Result<{ok}, {cl}::Status> {{"
        ));
        code.open("self.inner");
        code.open(&format!(".{channel_method}("));
        code.line(&format!(
            "{cl}::IntoRequest::<{request_type}>::into_request(request),"
        ));
        code.line(&format!("{},", literal(path)));
        code.line(&format!("{},", codec(c, input, output)));
        code.close(")");
        code.line(".await");
        code.dedent();
        code.close("}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn struct_names_drop_keyword_escapes() {
        let service = ServiceModel {
            full_name: "x.Type".to_owned(),
            trait_name: "Self_".to_owned(),
            module_stem: "type".to_owned(),
            docs: Vec::new(),
            deprecated: false,
            methods: Vec::new(),
        };
        assert_eq!(service.server_struct(), "SelfServer");
        assert_eq!(service.client_struct(), "SelfClient");
    }
}
