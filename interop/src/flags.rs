//! Command-line flags as the reference interop binaries take them: `--name=value` or
//! `--name value`; a boolean alone (`--use_tls`) is true, and `--use_tls=true|false` (or
//! `--use_tls true|false`) sets it. One leading dash works too, as with Go's `flag` package.

use std::collections::BTreeMap;
use std::fmt;

/// A flag error: what was wrong, for the usage message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlagError(pub String);

impl fmt::Display for FlagError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FlagError {}

/// The kind of value a flag takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `--flag`, `--flag=true|false`, `--flag true|false`.
    Bool,
    /// `--flag=value` or `--flag value`.
    Value,
    /// Accepted for compatibility with the reference binaries and ignored (takes a value).
    Ignored,
}

/// Parsed flags: name → value (`"true"`/`"false"` for booleans).
#[derive(Clone, Debug, Default)]
pub struct Flags {
    values: BTreeMap<String, String>,
    ignored: Vec<String>,
}

impl Flags {
    /// Parses `args` (without the program name) against `known`: (name, kind) pairs.
    /// Unknown flags and positional arguments are errors.
    pub fn parse(
        args: impl IntoIterator<Item = String>,
        known: &[(&str, Kind)],
    ) -> Result<Flags, FlagError> {
        let mut flags = Flags::default();
        let mut args = args.into_iter().peekable();
        while let Some(arg) = args.next() {
            let Some(body) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
                return Err(FlagError(format!("unexpected argument {arg:?}")));
            };
            let (name, inline) = match body.split_once('=') {
                Some((name, value)) => (name, Some(value.to_owned())),
                None => (body, None),
            };
            let Some(&(_, kind)) = known.iter().find(|(known, _)| *known == name) else {
                return Err(FlagError(format!("unknown flag --{name}")));
            };
            let value = match (kind, inline) {
                (Kind::Bool, Some(value)) => parse_bool(name, &value)?.to_string(),
                (Kind::Bool, None) => {
                    match args.next_if(|next| next == "true" || next == "false") {
                        Some(value) => value,
                        None => "true".to_owned(),
                    }
                }
                (_, Some(value)) => value,
                (_, None) => args
                    .next()
                    .ok_or_else(|| FlagError(format!("flag --{name} needs a value")))?,
            };
            if kind == Kind::Ignored {
                flags.ignored.push(name.to_owned());
            } else {
                flags.values.insert(name.to_owned(), value);
            }
        }
        Ok(flags)
    }

    /// The value of a value flag, if given.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// The value of a boolean flag (false if not given).
    pub fn bool(&self, name: &str) -> bool {
        self.values.get(name).is_some_and(|v| v == "true")
    }

    /// A value flag parsed as `T`, or `default` if not given.
    pub fn parsed<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T, FlagError>
    where
        T::Err: fmt::Display,
    {
        match self.value(name) {
            None => Ok(default),
            Some(value) => value
                .parse()
                .map_err(|e| FlagError(format!("--{name}={value}: {e}"))),
        }
    }

    /// The flags given that are accepted but ignored.
    pub fn ignored(&self) -> &[String] {
        &self.ignored
    }
}

fn parse_bool(name: &str, value: &str) -> Result<bool, FlagError> {
    match value {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        other => Err(FlagError(format!(
            "--{name}={other}: expected true or false"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: &[(&str, Kind)] = &[
        ("use_tls", Kind::Bool),
        ("port", Kind::Value),
        ("oauth_scope", Kind::Ignored),
    ];

    fn parse(args: &[&str]) -> Result<Flags, FlagError> {
        Flags::parse(args.iter().map(|s| s.to_string()), KNOWN)
    }

    #[test]
    fn both_forms_of_values() {
        let flags = parse(&["--port=8080"]).unwrap();
        assert_eq!(flags.parsed("port", 0u16).unwrap(), 8080);
        let flags = parse(&["--port", "8081"]).unwrap();
        assert_eq!(flags.parsed("port", 0u16).unwrap(), 8081);
        let flags = parse(&["-port=8082"]).unwrap();
        assert_eq!(flags.parsed("port", 0u16).unwrap(), 8082);
        assert_eq!(parse(&[]).unwrap().parsed("port", 7u16).unwrap(), 7);
    }

    #[test]
    fn booleans() {
        assert!(!parse(&[]).unwrap().bool("use_tls"));
        assert!(parse(&["--use_tls"]).unwrap().bool("use_tls"));
        assert!(parse(&["--use_tls=true"]).unwrap().bool("use_tls"));
        assert!(!parse(&["--use_tls=false"]).unwrap().bool("use_tls"));
        assert!(!parse(&["--use_tls", "false"]).unwrap().bool("use_tls"));
        let flags = parse(&["--use_tls", "--port", "1"]).unwrap();
        assert!(flags.bool("use_tls"));
        assert_eq!(flags.value("port"), Some("1"));
        assert!(parse(&["--use_tls=maybe"]).is_err());
    }

    #[test]
    fn errors_and_ignored_flags() {
        assert_eq!(
            parse(&["--nope=1"]).unwrap_err(),
            FlagError("unknown flag --nope".into())
        );
        assert!(parse(&["--port"]).is_err());
        assert!(parse(&["port"]).is_err());
        assert!(parse(&["--port=x"]).unwrap().parsed("port", 0u16).is_err());
        let flags = parse(&["--oauth_scope", "x"]).unwrap();
        assert_eq!(flags.ignored(), ["oauth_scope"]);
        assert_eq!(flags.value("oauth_scope"), None);
    }
}
