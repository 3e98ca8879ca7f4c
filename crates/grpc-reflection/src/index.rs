//! The descriptor index behind the reflection service: every registered file, kept in the
//! encoding it was registered in, and tables from file names, symbols and extensions to
//! those files. Built once by the [`Builder`](crate::Builder); read-only afterwards, so
//! every reflection stream shares it without a lock.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use bytes::Bytes;
use prost::Message;
use prost_types::{
    DescriptorProto, EnumDescriptorProto, FieldDescriptorProto, FileDescriptorProto,
};

use crate::Error;

/// `google.protobuf.FileDescriptorSet` with its files left encoded: field 1, `repeated
/// FileDescriptorProto file`. Decoding through this keeps each file's exact bytes (custom
/// options included, which a round trip through `prost_types` would drop) and, from a
/// `Bytes` buffer, copies nothing.
#[derive(Clone, PartialEq, Message)]
struct EncodedFileDescriptorSet {
    #[prost(bytes = "bytes", repeated, tag = "1")]
    file: Vec<Bytes>,
}

/// What kind of element a symbol names. Only messages are told apart (for
/// `all_extension_numbers_of_type`); the rest only need to be found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SymbolKind {
    Message,
    Other,
}

/// One registered `.proto` file.
#[derive(Debug)]
struct File {
    name: String,
    /// The `FileDescriptorProto` as registered.
    encoded: Bytes,
    /// The names of the files it imports.
    imports: Vec<String>,
    /// The indices (in [`Index::files`]) of the imports that are registered too; the others
    /// are left out of answers (a client that needs them will say so).
    dependencies: Vec<usize>,
}

/// Collects descriptor sets, then [`finish`](IndexBuilder::finish)es into an [`Index`].
#[derive(Debug, Default)]
pub(crate) struct IndexBuilder {
    index: Index,
}

/// Everything the reflection service answers from.
#[derive(Debug, Default)]
pub(crate) struct Index {
    files: Vec<File>,
    by_name: HashMap<String, usize>,
    /// Fully-qualified names (no leading dot) of every declared element.
    symbols: HashMap<String, (usize, SymbolKind)>,
    /// (extended message, field number) -> the file declaring that extension.
    extensions: HashMap<(String, i32), usize>,
    /// Extended message -> the numbers of its extensions, sorted.
    extension_numbers: HashMap<String, Vec<i32>>,
    /// The services, by full name, sorted.
    services: Vec<String>,
}

impl IndexBuilder {
    /// Adds the files of an encoded `FileDescriptorSet` whose names `keep` accepts. A file
    /// whose name is registered already is skipped (descriptor sets of different crates
    /// often carry the same imports).
    ///
    /// # Errors
    ///
    /// The bytes are not a `FileDescriptorSet`, a file in it is unnamed, or it declares a
    /// symbol another registered file declares already.
    pub(crate) fn add_encoded_set(
        &mut self,
        encoded: Bytes,
        keep: impl Fn(&str) -> bool,
    ) -> Result<(), Error> {
        let set = EncodedFileDescriptorSet::decode(encoded)
            .map_err(|e| Error::new(format!("not an encoded FileDescriptorSet: {e}")))?;
        for file in set.file {
            let proto = FileDescriptorProto::decode(file.clone())
                .map_err(|e| Error::new(format!("not an encoded FileDescriptorProto: {e}")))?;
            if keep(proto.name()) {
                self.add_file(file, proto)?;
            }
        }
        Ok(())
    }

    /// Adds one file: `encoded` is what clients get, `proto` its decoded form.
    fn add_file(&mut self, encoded: Bytes, proto: FileDescriptorProto) -> Result<(), Error> {
        let name = proto.name().to_owned();
        if name.is_empty() {
            return Err(Error::new("a FileDescriptorProto in the set has no name"));
        }
        let index = &mut self.index;
        if index.by_name.contains_key(&name) {
            tracing::debug!(file = %name, "reflection: file registered already, skipped");
            return Ok(());
        }
        let file = index.files.len();
        let mut symbols = Vec::new();
        let mut extensions = Vec::new();
        let mut services = Vec::new();
        collect_file(&proto, &mut symbols, &mut extensions, &mut services);
        for (symbol, kind) in symbols {
            match index.symbols.entry(symbol) {
                Entry::Vacant(entry) => {
                    entry.insert((file, kind));
                }
                Entry::Occupied(entry) => {
                    let (other, _) = *entry.get();
                    return Err(Error::new(format!(
                        "symbol {} is declared in both {} and {name}",
                        entry.key(),
                        index.files[other].name
                    )));
                }
            }
        }
        for (extendee, number) in extensions {
            index
                .extension_numbers
                .entry(extendee.clone())
                .or_default()
                .push(number);
            // Two files extending one message with one number would not compile together;
            // the first registered wins.
            index.extensions.entry((extendee, number)).or_insert(file);
        }
        index.services.extend(services);
        index.by_name.insert(name.clone(), file);
        index.files.push(File {
            name,
            encoded,
            imports: proto.dependency,
            dependencies: Vec::new(),
        });
        Ok(())
    }

    /// Resolves imports and sorts the tables.
    pub(crate) fn finish(mut self) -> Index {
        let by_name = &self.index.by_name;
        for file in &mut self.index.files {
            file.dependencies = file
                .imports
                .iter()
                .filter_map(|import| by_name.get(import).copied())
                .collect();
        }
        self.index.services.sort_unstable();
        self.index.services.dedup();
        for numbers in self.index.extension_numbers.values_mut() {
            numbers.sort_unstable();
            numbers.dedup();
        }
        self.index
    }
}

/// Why a lookup found nothing: becomes a NOT_FOUND error response.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct NotFound(pub(crate) String);

/// The files sent so far on one reflection stream: dependencies go out once per stream
/// (the protocol lets a server leave out files sent earlier; grpc-go does the same).
#[derive(Debug)]
pub(crate) struct SentFiles(Vec<bool>);

impl Index {
    /// A fresh record of sent files for a new stream.
    pub(crate) fn new_stream(&self) -> SentFiles {
        SentFiles(vec![false; self.files.len()])
    }

    /// The services' full names, sorted.
    pub(crate) fn services(&self) -> &[String] {
        &self.services
    }

    /// The file called `name` and its unsent dependencies.
    pub(crate) fn file_by_filename(
        &self,
        name: &str,
        sent: &mut SentFiles,
    ) -> Result<Vec<Bytes>, NotFound> {
        let file = self
            .by_name
            .get(name)
            .ok_or_else(|| NotFound(format!("file {name:?} not found")))?;
        Ok(self.with_dependencies(*file, sent))
    }

    /// The file declaring `symbol` (a leading dot is allowed) and its unsent dependencies.
    pub(crate) fn file_containing_symbol(
        &self,
        symbol: &str,
        sent: &mut SentFiles,
    ) -> Result<Vec<Bytes>, NotFound> {
        let (file, _) = self
            .symbols
            .get(strip_dot(symbol))
            .ok_or_else(|| NotFound(format!("symbol {symbol:?} not found")))?;
        Ok(self.with_dependencies(*file, sent))
    }

    /// The file declaring extension `number` of message `extendee` and its unsent
    /// dependencies.
    pub(crate) fn file_containing_extension(
        &self,
        extendee: &str,
        number: i32,
        sent: &mut SentFiles,
    ) -> Result<Vec<Bytes>, NotFound> {
        let file = self
            .extensions
            .get(&(strip_dot(extendee).to_owned(), number))
            .ok_or_else(|| NotFound(format!("extension {number} of {extendee:?} not found")))?;
        Ok(self.with_dependencies(*file, sent))
    }

    /// The numbers of the known extensions of message `extendee`, sorted; empty for a
    /// message nothing extends.
    pub(crate) fn extension_numbers(&self, extendee: &str) -> Result<Vec<i32>, NotFound> {
        let extendee = strip_dot(extendee);
        if let Some(numbers) = self.extension_numbers.get(extendee) {
            return Ok(numbers.clone());
        }
        match self.symbols.get(extendee) {
            Some((_, SymbolKind::Message)) => Ok(Vec::new()),
            _ => Err(NotFound(format!("message type {extendee:?} not found"))),
        }
    }

    /// `root`, always (the client asked for it), then every file it imports, directly or
    /// not, that this stream has not been sent yet, breadth first.
    fn with_dependencies(&self, root: usize, sent: &mut SentFiles) -> Vec<Bytes> {
        let mut out = Vec::new();
        let mut queue = std::collections::VecDeque::from([root]);
        let mut first = true;
        while let Some(file) = queue.pop_front() {
            let Some(seen) = sent.0.get_mut(file) else {
                continue;
            };
            // A file sent earlier on the stream went out with all its imports then (they
            // are sent, or were sent before, in the same answer), so its imports need no
            // second look. The root is sent again regardless.
            if *seen && !first {
                continue;
            }
            first = false;
            *seen = true;
            let Some(entry) = self.files.get(file) else {
                continue;
            };
            out.push(entry.encoded.clone());
            queue.extend(
                entry
                    .dependencies
                    .iter()
                    .copied()
                    .filter(|dep| !sent.0.get(*dep).copied().unwrap_or(true)),
            );
        }
        out
    }
}

fn strip_dot(name: &str) -> &str {
    name.strip_prefix('.').unwrap_or(name)
}

/// `scope.name`, or `name` in the root scope.
fn join(scope: &str, name: &str) -> String {
    if scope.is_empty() {
        name.to_owned()
    } else {
        format!("{scope}.{name}")
    }
}

/// Every symbol a file declares (protobuf's scoping: enum values are siblings of their enum,
/// C++ style), its extensions as (extended message, number), and its services.
fn collect_file(
    file: &FileDescriptorProto,
    symbols: &mut Vec<(String, SymbolKind)>,
    extensions: &mut Vec<(String, i32)>,
    services: &mut Vec<String>,
) {
    // The package itself is no symbol of a file's: several files share one.
    let package = file.package();
    for message in &file.message_type {
        collect_message(package, message, symbols, extensions);
    }
    for enumeration in &file.enum_type {
        collect_enum(package, enumeration, symbols);
    }
    collect_extensions(package, &file.extension, symbols, extensions);
    for service in &file.service {
        let name = join(package, service.name());
        for method in &service.method {
            symbols.push((join(&name, method.name()), SymbolKind::Other));
        }
        symbols.push((name.clone(), SymbolKind::Other));
        services.push(name);
    }
}

fn collect_message(
    scope: &str,
    message: &DescriptorProto,
    symbols: &mut Vec<(String, SymbolKind)>,
    extensions: &mut Vec<(String, i32)>,
) {
    let name = join(scope, message.name());
    for field in &message.field {
        symbols.push((join(&name, field.name()), SymbolKind::Other));
    }
    for oneof in &message.oneof_decl {
        symbols.push((join(&name, oneof.name()), SymbolKind::Other));
    }
    for nested in &message.nested_type {
        collect_message(&name, nested, symbols, extensions);
    }
    for enumeration in &message.enum_type {
        collect_enum(&name, enumeration, symbols);
    }
    collect_extensions(&name, &message.extension, symbols, extensions);
    symbols.push((name, SymbolKind::Message));
}

fn collect_enum(
    scope: &str,
    enumeration: &EnumDescriptorProto,
    symbols: &mut Vec<(String, SymbolKind)>,
) {
    for value in &enumeration.value {
        symbols.push((join(scope, value.name()), SymbolKind::Other));
    }
    symbols.push((join(scope, enumeration.name()), SymbolKind::Other));
}

fn collect_extensions(
    scope: &str,
    fields: &[FieldDescriptorProto],
    symbols: &mut Vec<(String, SymbolKind)>,
    extensions: &mut Vec<(String, i32)>,
) {
    for field in fields {
        symbols.push((join(scope, field.name()), SymbolKind::Other));
        if field.extendee.is_some() {
            extensions.push((strip_dot(field.extendee()).to_owned(), field.number()));
        }
    }
}

#[cfg(test)]
mod tests {
    use prost_types::field_descriptor_proto::{Label, Type};
    use prost_types::{
        EnumValueDescriptorProto, FileDescriptorSet, MethodDescriptorProto, OneofDescriptorProto,
        ServiceDescriptorProto,
    };

    use super::*;

    fn field(name: &str, number: i32) -> FieldDescriptorProto {
        FieldDescriptorProto {
            name: Some(name.to_owned()),
            number: Some(number),
            label: Some(Label::Optional as i32),
            r#type: Some(Type::String as i32),
            ..FieldDescriptorProto::default()
        }
    }

    fn extension(name: &str, extendee: &str, number: i32) -> FieldDescriptorProto {
        FieldDescriptorProto {
            extendee: Some(extendee.to_owned()),
            ..field(name, number)
        }
    }

    /// a.proto (package `demo`): message Outer { field, oneof, nested Inner, nested enum
    /// Color { RED }, extension }, top-level enum Mood { HAPPY }, service Svc { Do },
    /// an extension of Outer. b.proto imports a.proto; c.proto imports b.proto and a.proto.
    fn files() -> Vec<FileDescriptorProto> {
        let a = FileDescriptorProto {
            name: Some("demo/a.proto".to_owned()),
            package: Some("demo".to_owned()),
            message_type: vec![DescriptorProto {
                name: Some("Outer".to_owned()),
                field: vec![field("text", 1)],
                oneof_decl: vec![OneofDescriptorProto {
                    name: Some("choice".to_owned()),
                    ..OneofDescriptorProto::default()
                }],
                nested_type: vec![DescriptorProto {
                    name: Some("Inner".to_owned()),
                    ..DescriptorProto::default()
                }],
                enum_type: vec![EnumDescriptorProto {
                    name: Some("Color".to_owned()),
                    value: vec![EnumValueDescriptorProto {
                        name: Some("RED".to_owned()),
                        number: Some(0),
                        ..EnumValueDescriptorProto::default()
                    }],
                    ..EnumDescriptorProto::default()
                }],
                extension: vec![extension("nested_ext", ".demo.Outer", 101)],
                ..DescriptorProto::default()
            }],
            enum_type: vec![EnumDescriptorProto {
                name: Some("Mood".to_owned()),
                value: vec![EnumValueDescriptorProto {
                    name: Some("HAPPY".to_owned()),
                    number: Some(0),
                    ..EnumValueDescriptorProto::default()
                }],
                ..EnumDescriptorProto::default()
            }],
            service: vec![ServiceDescriptorProto {
                name: Some("Svc".to_owned()),
                method: vec![MethodDescriptorProto {
                    name: Some("Do".to_owned()),
                    input_type: Some(".demo.Outer".to_owned()),
                    output_type: Some(".demo.Outer".to_owned()),
                    ..MethodDescriptorProto::default()
                }],
                ..ServiceDescriptorProto::default()
            }],
            extension: vec![extension("top_ext", ".demo.Outer", 100)],
            ..FileDescriptorProto::default()
        };
        let b = FileDescriptorProto {
            name: Some("demo/b.proto".to_owned()),
            package: Some("demo.b".to_owned()),
            dependency: vec!["demo/a.proto".to_owned()],
            message_type: vec![DescriptorProto {
                name: Some("B".to_owned()),
                ..DescriptorProto::default()
            }],
            extension: vec![extension("b_ext", ".demo.Outer", 200)],
            ..FileDescriptorProto::default()
        };
        let c = FileDescriptorProto {
            name: Some("c.proto".to_owned()),
            dependency: vec![
                "demo/b.proto".to_owned(),
                "demo/a.proto".to_owned(),
                "missing.proto".to_owned(),
            ],
            message_type: vec![DescriptorProto {
                name: Some("C".to_owned()),
                ..DescriptorProto::default()
            }],
            service: vec![ServiceDescriptorProto {
                name: Some("Root".to_owned()),
                ..ServiceDescriptorProto::default()
            }],
            ..FileDescriptorProto::default()
        };
        vec![a, b, c]
    }

    fn index_of(files: Vec<FileDescriptorProto>) -> Result<Index, Error> {
        let set = FileDescriptorSet { file: files };
        let mut builder = IndexBuilder::default();
        builder.add_encoded_set(Bytes::from(set.encode_to_vec()), |_| true)?;
        Ok(builder.finish())
    }

    fn names(files: &[Bytes]) -> Vec<String> {
        files
            .iter()
            .map(|file| {
                FileDescriptorProto::decode(file.clone())
                    .map(|file| file.name().to_owned())
                    .unwrap_or_default()
            })
            .collect()
    }

    #[test]
    fn every_kind_of_symbol_is_found_in_its_file() -> Result<(), Error> {
        let index = index_of(files())?;
        for symbol in [
            "demo.Outer",
            ".demo.Outer",
            "demo.Outer.text",
            "demo.Outer.choice",
            "demo.Outer.Inner",
            "demo.Outer.Color",
            // Enum values live beside their enum.
            "demo.Outer.RED",
            "demo.Mood",
            "demo.HAPPY",
            "demo.Svc",
            "demo.Svc.Do",
            "demo.top_ext",
            "demo.Outer.nested_ext",
        ] {
            let mut sent = index.new_stream();
            let found = index.file_containing_symbol(symbol, &mut sent);
            assert_eq!(
                found.map(|files| names(&files)),
                Ok(vec!["demo/a.proto".to_owned()]),
                "{symbol}"
            );
        }
        let mut sent = index.new_stream();
        for missing in [
            "demo",
            "demo.Outer.Missing",
            "Outer",
            "demo.Outer.Color.RED",
            "",
        ] {
            assert!(
                index.file_containing_symbol(missing, &mut sent).is_err(),
                "{missing}"
            );
        }
        // A file in the root package.
        assert_eq!(
            index
                .file_containing_symbol("Root", &mut sent)
                .map(|files| names(&files)[0].clone()),
            Ok("c.proto".to_owned())
        );
        Ok(())
    }

    #[test]
    fn dependencies_come_after_the_file_and_go_out_once_per_stream() -> Result<(), Error> {
        let index = index_of(files())?;
        let mut sent = index.new_stream();
        // c imports b and a (and a file nobody registered); b imports a: a goes out once.
        let first = index.file_by_filename("c.proto", &mut sent);
        assert_eq!(
            first.map(|files| names(&files)),
            Ok(vec![
                "c.proto".to_owned(),
                "demo/b.proto".to_owned(),
                "demo/a.proto".to_owned()
            ])
        );
        // Asked again on the same stream: the file itself, nothing else.
        let again = index.file_containing_symbol("demo.b.B", &mut sent);
        assert_eq!(
            again.map(|files| names(&files)),
            Ok(vec!["demo/b.proto".to_owned()])
        );
        // A new stream starts over.
        let mut fresh = index.new_stream();
        let b = index.file_by_filename("demo/b.proto", &mut fresh);
        assert_eq!(
            b.map(|files| names(&files)),
            Ok(vec!["demo/b.proto".to_owned(), "demo/a.proto".to_owned()])
        );
        assert_eq!(
            index.file_by_filename("missing.proto", &mut fresh),
            Err(NotFound("file \"missing.proto\" not found".to_owned()))
        );
        Ok(())
    }

    #[test]
    fn extensions_by_type_and_number() -> Result<(), Error> {
        let index = index_of(files())?;
        let mut sent = index.new_stream();
        let found = index.file_containing_extension("demo.Outer", 200, &mut sent);
        assert_eq!(
            found.map(|files| names(&files)[0].clone()),
            Ok("demo/b.proto".to_owned())
        );
        let found = index.file_containing_extension(".demo.Outer", 101, &mut sent);
        assert_eq!(
            found.map(|files| names(&files)[0].clone()),
            Ok("demo/a.proto".to_owned())
        );
        assert!(
            index
                .file_containing_extension("demo.Outer", 102, &mut sent)
                .is_err()
        );
        assert!(
            index
                .file_containing_extension("demo.Nope", 100, &mut sent)
                .is_err()
        );

        assert_eq!(
            index.extension_numbers("demo.Outer"),
            Ok(vec![100, 101, 200])
        );
        // A message nothing extends: an empty list, not an error.
        assert_eq!(index.extension_numbers("demo.Outer.Inner"), Ok(vec![]));
        // Not a message at all.
        assert!(index.extension_numbers("demo.Mood").is_err());
        assert!(index.extension_numbers("demo.Svc").is_err());
        assert!(index.extension_numbers("demo.Unknown").is_err());
        Ok(())
    }

    #[test]
    fn services_are_sorted_and_files_deduplicated() -> Result<(), Error> {
        let mut builder = IndexBuilder::default();
        let set = FileDescriptorSet { file: files() };
        let encoded = Bytes::from(set.encode_to_vec());
        builder.add_encoded_set(encoded.clone(), |_| true)?;
        // The same files again (two crates' sets sharing imports): skipped, no conflict.
        builder.add_encoded_set(encoded, |_| true)?;
        let index = builder.finish();
        assert_eq!(index.services(), ["Root", "demo.Svc"]);
        assert_eq!(index.files.len(), 3);
        Ok(())
    }

    #[test]
    fn bad_registrations_are_errors() {
        let mut builder = IndexBuilder::default();
        let all = |_: &str| true;
        assert!(
            builder
                .add_encoded_set(Bytes::from_static(&[0xff, 0xff]), all)
                .is_err()
        );
        let unnamed = FileDescriptorSet {
            file: vec![FileDescriptorProto::default()],
        };
        assert!(
            builder
                .add_encoded_set(Bytes::from(unnamed.encode_to_vec()), all)
                .is_err()
        );
        // Another file declaring demo.Outer.
        let mut clash = files().remove(0);
        clash.name = Some("elsewhere.proto".to_owned());
        let set = FileDescriptorSet {
            file: vec![files().remove(0), clash],
        };
        let err = builder.add_encoded_set(Bytes::from(set.encode_to_vec()), all);
        assert!(
            err.as_ref()
                .is_err_and(|e| e.to_string().contains("declared in both")),
            "{err:?}"
        );
    }

    #[test]
    fn files_keep_their_registered_bytes() -> Result<(), Error> {
        // Unknown fields (a custom option's value, say) survive: the registered encoding is
        // what goes out, not a re-encoding.
        let mut encoded = FileDescriptorProto {
            name: Some("x.proto".to_owned()),
            ..FileDescriptorProto::default()
        }
        .encode_to_vec();
        // Field 999 (varint) = 1: unknown to FileDescriptorProto.
        encoded.extend_from_slice(&[0xb8, 0x3e, 0x01]);
        // A set with that one file: field 1, length-delimited.
        let mut set = vec![0x0a, encoded.len() as u8];
        set.extend_from_slice(&encoded);
        let mut builder = IndexBuilder::default();
        builder.add_encoded_set(Bytes::from(set), |_| true)?;
        let index = builder.finish();
        let mut sent = index.new_stream();
        assert_eq!(
            index.file_by_filename("x.proto", &mut sent),
            Ok(vec![Bytes::from(encoded)])
        );
        Ok(())
    }
}
