//! Names: Rust identifiers for generated items and Rust paths for message types.

/// `lower_snake_case` for an `UpperCamelCase` (or mixed) protobuf name, used for the
/// generated module names (`greeter_server`).
///
/// Word boundaries: any character that is not ASCII alphanumeric; a lower-case letter or digit
/// followed by an upper-case letter (`sayHello` -> `say_hello`); and the last capital of an
/// acronym followed by a lower-case letter (`HTTPServer` -> `http_server`). Digits stay with
/// the word before them (`V2Service` -> `v2_service`).
pub(crate) fn to_snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_ascii_alphanumeric() {
            if !out.is_empty() && !out.ends_with('_') {
                out.push('_');
            }
            continue;
        }
        if c.is_ascii_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next = chars.get(i + 1).copied();
            let boundary = prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next.is_some_and(|n| n.is_ascii_lowercase()));
            if boundary && !out.is_empty() && !out.ends_with('_') {
                out.push('_');
            }
        }
        out.push(c.to_ascii_lowercase());
    }
    while out.ends_with('_') {
        out.pop();
    }
    if out.is_empty() {
        out.push_str("service");
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// The Rust path of a message type as seen from inside a generated `*_server` / `*_client`
/// module, given the path prost-build computed relative to the package's module.
///
/// prost-build gives local types relative to the package module (`HelloRequest`,
/// `super::common::v1::Thing`, `outer::Inner`); one more `super::` reaches them from our nested
/// module. Types it maps to other crates or builtins (well-known types, `extern_path`) are
/// absolute (`::prost_types::Timestamp`), crate-relative (`crate::x::Y`), the unit type
/// (`google.protobuf.Empty`) or a primitive (`google.protobuf.BoolValue` -> `bool`); those are
/// used as they are. An `extern_path` given as a bare crate name (`my_crate::Msg`) would be
/// taken for a local path, so extern paths should start with `::` or `crate::`.
pub(crate) fn message_path(prost_path: &str) -> String {
    const BUILTINS: &[&str] = &[
        "()", "bool", "f32", "f64", "i32", "i64", "u32", "u64", "String", "Vec<u8>",
    ];
    let path = prost_path.trim();
    if path.starts_with("::")
        || path.starts_with("crate::")
        || path.starts_with('<')
        || BUILTINS.contains(&path)
    {
        path.to_owned()
    } else {
        format!("super::{path}")
    }
}

/// Names the generated client reserves for its own inherent methods; an RPC whose Rust name is
/// one of these gets an `_rpc` suffix on the client (the server trait keeps the plain name).
const CLIENT_RESERVED: &[&str] = &["new", "connect", "channel"];

/// The client method name for an RPC whose prost-build (snake-case, keyword-safe) name is
/// `name`.
pub(crate) fn client_method_name(name: &str) -> String {
    if CLIENT_RESERVED.contains(&name) {
        format!("{name}_rpc")
    } else {
        name.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case() {
        for (input, expected) in [
            ("Greeter", "greeter"),
            ("RouteGuide", "route_guide"),
            ("HTTPServer", "http_server"),
            ("V2Service", "v2_service"),
            ("Greeter2", "greeter2"),
            ("Self_", "self"),
            ("ABC", "abc"),
            ("snake_case_already", "snake_case_already"),
            ("getHTTPResponseCode", "get_http_response_code"),
            ("__", "service"),
            ("9Lives", "_9_lives"),
        ] {
            assert_eq!(to_snake_case(input), expected, "{input}");
        }
    }

    #[test]
    fn message_paths() {
        assert_eq!(message_path("HelloRequest"), "super::HelloRequest");
        assert_eq!(
            message_path("super::common::v1::Thing"),
            "super::super::common::v1::Thing"
        );
        assert_eq!(message_path("outer::Inner"), "super::outer::Inner");
        assert_eq!(
            message_path("::prost_types::Timestamp"),
            "::prost_types::Timestamp"
        );
        assert_eq!(message_path("crate::pb::Msg"), "crate::pb::Msg");
        assert_eq!(message_path("()"), "()");
        assert_eq!(message_path("bool"), "bool");
        assert_eq!(
            message_path("::prost::alloc::string::String"),
            "::prost::alloc::string::String"
        );
    }

    #[test]
    fn reserved_client_names() {
        assert_eq!(client_method_name("connect"), "connect_rpc");
        assert_eq!(client_method_name("new"), "new_rpc");
        assert_eq!(client_method_name("say_hello"), "say_hello");
        assert_eq!(client_method_name("r#type"), "r#type");
    }
}
