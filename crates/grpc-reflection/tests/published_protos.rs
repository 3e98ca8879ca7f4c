//! Our reflection protos against the published ones (grpc-proto's
//! `grpc/reflection/v1/reflection.proto` and `grpc/reflection/v1alpha/reflection.proto`):
//! package, service, method, messages, fields, numbers, types, labels and oneofs, written
//! out here from the published files. Any drift breaks wire compatibility with every other
//! gRPC implementation, and the v1alpha handler's reuse of the v1 message types.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use prost::Message;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{FileDescriptorProto, FileDescriptorSet};

/// (field, number, type, message type name without package, label, oneof).
type Field = (
    &'static str,
    i32,
    Type,
    Option<&'static str>,
    Label,
    Option<&'static str>,
);

type OwnedField = (String, i32, Type, Option<String>, Label, Option<String>);

fn published_messages() -> Vec<(&'static str, Vec<Field>)> {
    use Label::{Optional, Repeated};
    use Type::{Bytes, Int32, Message, String};
    vec![
        (
            "ServerReflectionRequest",
            vec![
                ("host", 1, String, None, Optional, None),
                (
                    "file_by_filename",
                    3,
                    String,
                    None,
                    Optional,
                    Some("message_request"),
                ),
                (
                    "file_containing_symbol",
                    4,
                    String,
                    None,
                    Optional,
                    Some("message_request"),
                ),
                (
                    "file_containing_extension",
                    5,
                    Message,
                    Some("ExtensionRequest"),
                    Optional,
                    Some("message_request"),
                ),
                (
                    "all_extension_numbers_of_type",
                    6,
                    String,
                    None,
                    Optional,
                    Some("message_request"),
                ),
                (
                    "list_services",
                    7,
                    String,
                    None,
                    Optional,
                    Some("message_request"),
                ),
            ],
        ),
        (
            "ExtensionRequest",
            vec![
                ("containing_type", 1, String, None, Optional, None),
                ("extension_number", 2, Int32, None, Optional, None),
            ],
        ),
        (
            "ServerReflectionResponse",
            vec![
                ("valid_host", 1, String, None, Optional, None),
                (
                    "original_request",
                    2,
                    Message,
                    Some("ServerReflectionRequest"),
                    Optional,
                    None,
                ),
                (
                    "file_descriptor_response",
                    4,
                    Message,
                    Some("FileDescriptorResponse"),
                    Optional,
                    Some("message_response"),
                ),
                (
                    "all_extension_numbers_response",
                    5,
                    Message,
                    Some("ExtensionNumberResponse"),
                    Optional,
                    Some("message_response"),
                ),
                (
                    "list_services_response",
                    6,
                    Message,
                    Some("ListServiceResponse"),
                    Optional,
                    Some("message_response"),
                ),
                (
                    "error_response",
                    7,
                    Message,
                    Some("ErrorResponse"),
                    Optional,
                    Some("message_response"),
                ),
            ],
        ),
        (
            "FileDescriptorResponse",
            vec![("file_descriptor_proto", 1, Bytes, None, Repeated, None)],
        ),
        (
            "ExtensionNumberResponse",
            vec![
                ("base_type_name", 1, String, None, Optional, None),
                ("extension_number", 2, Int32, None, Repeated, None),
            ],
        ),
        (
            "ListServiceResponse",
            vec![(
                "service",
                1,
                Message,
                Some("ServiceResponse"),
                Repeated,
                None,
            )],
        ),
        (
            "ServiceResponse",
            vec![("name", 1, String, None, Optional, None)],
        ),
        (
            "ErrorResponse",
            vec![
                ("error_code", 1, Int32, None, Optional, None),
                ("error_message", 2, String, None, Optional, None),
            ],
        ),
    ]
}

fn file(name: &str) -> FileDescriptorProto {
    let set = FileDescriptorSet::decode(grpc_reflection::FILE_DESCRIPTOR_SET).unwrap();
    set.file
        .into_iter()
        .find(|file| file.name() == name)
        .unwrap_or_else(|| panic!("{name} is not in FILE_DESCRIPTOR_SET"))
}

fn check(file: &FileDescriptorProto, package: &str) {
    assert_eq!(file.package(), package);
    assert_eq!(file.syntax(), "proto3");
    assert!(
        file.dependency.is_empty(),
        "the published protos import nothing"
    );
    assert!(file.enum_type.is_empty() && file.extension.is_empty());

    assert_eq!(file.service.len(), 1);
    let service = &file.service[0];
    assert_eq!(service.name(), "ServerReflection");
    assert_eq!(service.method.len(), 1);
    let method = &service.method[0];
    assert_eq!(method.name(), "ServerReflectionInfo");
    assert_eq!(
        method.input_type(),
        format!(".{package}.ServerReflectionRequest")
    );
    assert_eq!(
        method.output_type(),
        format!(".{package}.ServerReflectionResponse")
    );
    assert!(method.client_streaming() && method.server_streaming());

    let expected = published_messages();
    let names: Vec<&str> = file.message_type.iter().map(|m| m.name()).collect();
    let expected_names: Vec<&str> = expected.iter().map(|(name, _)| *name).collect();
    assert_eq!(names, expected_names, "{package}: messages");
    for (message, (name, fields)) in file.message_type.iter().zip(&expected) {
        assert!(message.nested_type.is_empty() && message.enum_type.is_empty());
        let oneofs: Vec<&str> = message.oneof_decl.iter().map(|o| o.name()).collect();
        let actual: Vec<OwnedField> = message
            .field
            .iter()
            .map(|field| {
                let type_name = field.type_name.as_deref().map(|type_name| {
                    let prefix = format!(".{package}.");
                    type_name
                        .strip_prefix(&prefix)
                        .unwrap_or_else(|| panic!("{type_name} is not in {package}"))
                        .to_owned()
                });
                let oneof = field
                    .oneof_index
                    .map(|index| oneofs[usize::try_from(index).unwrap()].to_owned());
                (
                    field.name().to_owned(),
                    field.number(),
                    field.r#type(),
                    type_name,
                    field.label(),
                    oneof,
                )
            })
            .collect();
        let fields: Vec<OwnedField> = fields
            .iter()
            .map(|&(name, number, kind, type_name, label, oneof)| {
                (
                    name.to_owned(),
                    number,
                    kind,
                    type_name.map(str::to_owned),
                    label,
                    oneof.map(str::to_owned),
                )
            })
            .collect();
        assert_eq!(actual, fields, "{package}.{name}");
        assert!(
            message.field.iter().all(|f| !f.proto3_optional()),
            "{package}.{name}: no proto3 `optional` fields"
        );
    }
}

#[test]
fn v1_matches_the_published_proto() {
    check(
        &file("grpc/reflection/v1/reflection.proto"),
        "grpc.reflection.v1",
    );
}

#[test]
fn v1alpha_matches_the_published_proto() {
    let v1alpha = file("grpc/reflection/v1alpha/reflection.proto");
    check(&v1alpha, "grpc.reflection.v1alpha");
    // The published v1alpha file is marked deprecated as a whole.
    assert_eq!(
        v1alpha.options.as_ref().and_then(|o| o.deprecated),
        Some(true)
    );
}

#[test]
fn service_names() {
    assert_eq!(
        grpc_reflection::V1_SERVICE_NAME,
        "grpc.reflection.v1.ServerReflection"
    );
    assert_eq!(
        grpc_reflection::V1ALPHA_SERVICE_NAME,
        "grpc.reflection.v1alpha.ServerReflection"
    );
}
