//! A service written exactly the way grpc-codegen emits server code (issue 4's API
//! contract): a trait with `impl Future` methods and a `GreeterServer<T>` registering closures.
//! If this compiles and runs, generated code fits this crate's API.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::*;

#[derive(Clone, PartialEq, prost::Message)]
pub struct HelloRequest {
    #[prost(string, tag = "1")]
    pub name: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct HelloReply {
    #[prost(string, tag = "1")]
    pub message: String,
}

pub mod greeter_server {
    use std::sync::Arc;

    /// The greeting service.
    pub trait Greeter: Send + Sync + 'static {
        fn say_hello(
            &self,
            request: ::grpc_server::Request<super::HelloRequest>,
        ) -> impl ::core::future::Future<
            Output = ::core::result::Result<
                ::grpc_server::Response<super::HelloReply>,
                ::grpc_server::Status,
            >,
        > + Send;
        fn lots_of_greetings(
            &self,
            request: ::grpc_server::Request<::grpc_server::Streaming<super::HelloRequest>>,
        ) -> impl ::core::future::Future<
            Output = ::core::result::Result<
                ::grpc_server::Response<super::HelloReply>,
                ::grpc_server::Status,
            >,
        > + Send;
        fn lots_of_replies(
            &self,
            request: ::grpc_server::Request<super::HelloRequest>,
            responses: &mut ::grpc_server::ResponseSink<super::HelloReply>,
        ) -> impl ::core::future::Future<Output = ::core::result::Result<(), ::grpc_server::Status>> + Send;
        fn bidi_hello(
            &self,
            request: ::grpc_server::Request<::grpc_server::Streaming<super::HelloRequest>>,
            responses: &mut ::grpc_server::ResponseSink<super::HelloReply>,
        ) -> impl ::core::future::Future<Output = ::core::result::Result<(), ::grpc_server::Status>> + Send;
    }

    pub struct GreeterServer<T> {
        inner: Arc<T>,
    }

    impl<T> GreeterServer<T> {
        pub fn new(inner: T) -> Self {
            GreeterServer {
                inner: Arc::new(inner),
            }
        }
    }

    impl<T: Greeter> ::grpc_server::GrpcService for GreeterServer<T> {
        const NAME: &'static str = "helloworld.Greeter";

        fn register(self, routes: &mut ::grpc_server::Routes) {
            let s = self.inner.clone();
            routes.unary(
                "/helloworld.Greeter/SayHello",
                ::grpc_core::codec::ProstCodec::<super::HelloReply, super::HelloRequest>::default(),
                move |req| {
                    let s = s.clone();
                    async move { s.say_hello(req).await }
                },
            );
            let s = self.inner.clone();
            routes.client_streaming(
                "/helloworld.Greeter/LotsOfGreetings",
                ::grpc_core::codec::ProstCodec::<super::HelloReply, super::HelloRequest>::default(),
                move |req| {
                    let s = s.clone();
                    async move { s.lots_of_greetings(req).await }
                },
            );
            let s = self.inner.clone();
            routes.server_streaming(
                "/helloworld.Greeter/LotsOfReplies",
                ::grpc_core::codec::ProstCodec::<super::HelloReply, super::HelloRequest>::default(),
                move |req, sink| {
                    let s = s.clone();
                    Box::pin(async move { s.lots_of_replies(req, sink).await })
                },
            );
            let s = self.inner.clone();
            routes.streaming(
                "/helloworld.Greeter/BidiHello",
                ::grpc_core::codec::ProstCodec::<super::HelloReply, super::HelloRequest>::default(),
                move |req, sink| {
                    let s = s.clone();
                    Box::pin(async move { s.bidi_hello(req, sink).await })
                },
            );
        }
    }
}

struct MyGreeter;

impl greeter_server::Greeter for MyGreeter {
    async fn say_hello(
        &self,
        request: grpc_server::Request<HelloRequest>,
    ) -> Result<grpc_server::Response<HelloReply>, grpc_server::Status> {
        Ok(grpc_server::Response::new(HelloReply {
            message: format!("Hello {}", request.get_ref().name),
        }))
    }

    async fn lots_of_greetings(
        &self,
        request: grpc_server::Request<grpc_server::Streaming<HelloRequest>>,
    ) -> Result<grpc_server::Response<HelloReply>, grpc_server::Status> {
        let mut stream = request.into_inner();
        let mut names = Vec::new();
        while let Some(request) = stream.message().await? {
            names.push(request.name);
        }
        Ok(grpc_server::Response::new(HelloReply {
            message: format!("Hello {}", names.join(" and ")),
        }))
    }

    async fn lots_of_replies(
        &self,
        request: grpc_server::Request<HelloRequest>,
        responses: &mut grpc_server::ResponseSink<HelloReply>,
    ) -> Result<(), grpc_server::Status> {
        for greeting in ["Hello", "Hi"] {
            responses
                .send(HelloReply {
                    message: format!("{greeting} {}", request.get_ref().name),
                })
                .await?;
        }
        Ok(())
    }

    async fn bidi_hello(
        &self,
        request: grpc_server::Request<grpc_server::Streaming<HelloRequest>>,
        responses: &mut grpc_server::ResponseSink<HelloReply>,
    ) -> Result<(), grpc_server::Status> {
        let mut stream = request.into_inner();
        while let Some(request) = stream.message().await? {
            responses
                .send(HelloReply {
                    message: format!("Hello {}", request.name),
                })
                .await?;
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_style_service_serves_all_four_kinds() {
    use prost::Message;
    let bound = grpc_server::Server::builder()
        .add_service(greeter_server::GreeterServer::new(MyGreeter))
        .bind(localhost())
        .await
        .unwrap();
    let (addr, _handle) = spawn(bound);
    let client = TestClient::connect(addr).await;
    let hello = |name: &str| HelloRequest { name: name.into() }.encode_to_vec();
    let reply_text = |bytes: &bytes::Bytes| HelloReply::decode(bytes.clone()).unwrap().message;

    let reply = client
        .unary("/helloworld.Greeter/SayHello", &hello("Ada"))
        .await;
    reply.assert_ok();
    assert_eq!(reply_text(reply.message()), "Hello Ada");

    let mut call = client.open(grpc_headers("/helloworld.Greeter/LotsOfGreetings"));
    call.send(&hello("Ada")).await;
    call.send(&hello("Grace")).await;
    call.close().await;
    let reply = patiently(call.finish()).await;
    reply.assert_ok();
    assert_eq!(reply_text(reply.message()), "Hello Ada and Grace");

    let reply = client
        .unary("/helloworld.Greeter/LotsOfReplies", &hello("Ada"))
        .await;
    reply.assert_ok();
    let texts: Vec<String> = reply.messages.iter().map(reply_text).collect();
    assert_eq!(texts, ["Hello Ada", "Hi Ada"]);

    let mut call = client.open(grpc_headers("/helloworld.Greeter/BidiHello"));
    call.send(&hello("Linus")).await;
    assert_eq!(reply_text(&call.message().await.unwrap()), "Hello Linus");
    call.close().await;
    patiently(call.finish()).await.assert_ok();

    let reply = client.unary("/helloworld.Greeter/Nope", b"").await;
    assert_eq!(reply.code(), grpc_core::Code::Unimplemented);
    assert_eq!(
        reply.status.message(),
        "unknown method Nope for service helloworld.Greeter"
    );
}
