//! [`Target`]: a channel's target string, parsed as gRPC's naming doc (`naming.md`) says.
//!
//! A target is a URI, `scheme:[//authority/]endpoint`, whose scheme picks the resolver:
//!
//! | target | scheme | authority | endpoint |
//! |---|---|---|---|
//! | `dns:///example.com:443` | `dns` | `""` | `example.com:443` |
//! | `dns://8.8.8.8/example.com` | `dns` | `8.8.8.8` | `example.com` |
//! | `dns:example.com:443` | `dns` | none | `example.com:443` |
//! | `unix:///run/app.sock` | `unix` | `""` | `run/app.sock` (path `/run/app.sock`) |
//! | `unix:rel/app.sock` | `unix` | none | `rel/app.sock` |
//! | `unix-abstract:app` | `unix-abstract` | none | `app` |
//! | `passthrough:///10.0.0.1:50051` | `passthrough` | `""` | `10.0.0.1:50051` |
//!
//! A string without a scheme the channel knows (`example.com:443`, `127.0.0.1:50051`,
//! `[::1]:50051`, where `example.com` would otherwise read as a scheme) is taken as an
//! endpoint of the default scheme, `dns`: see [`Target::parse_or_default`].

use std::fmt;

/// A parsed target URI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    original: String,
    scheme: String,
    authority: Option<String>,
    path: String,
}

impl Target {
    /// Parses `target` as `scheme:[//authority]path`. Returns `None` when it does not start
    /// with a URI scheme (letters, digits, `+`, `-`, `.`, starting with a letter, then `:`).
    ///
    /// ```
    /// use grpc_resolver_api::Target;
    ///
    /// let target = Target::parse("dns://8.8.8.8/example.com:443").unwrap();
    /// assert_eq!(target.scheme(), "dns");
    /// assert_eq!(target.authority(), Some("8.8.8.8"));
    /// assert_eq!(target.endpoint(), "example.com:443");
    /// assert!(Target::parse("127.0.0.1:50051").is_none());
    /// ```
    pub fn parse(target: &str) -> Option<Target> {
        let (scheme, rest) = target.split_once(':')?;
        let mut chars = scheme.chars();
        let valid_scheme = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if !valid_scheme {
            return None;
        }
        let (authority, path) = match rest.strip_prefix("//") {
            Some(after) => match after.find('/') {
                Some(slash) => (Some(&after[..slash]), &after[slash..]),
                None => (Some(after), ""),
            },
            None => (None, rest),
        };
        Some(Target {
            original: target.to_owned(),
            scheme: scheme.to_ascii_lowercase(),
            authority: authority.map(str::to_owned),
            path: path.to_owned(),
        })
    }

    /// Parses `target`; when it has no scheme, or one for which `known_scheme` says no, it
    /// is read as `{default_scheme}:///{target}` (gRPC's rule for bare `host:port`).
    ///
    /// ```
    /// use grpc_resolver_api::Target;
    ///
    /// let known = |scheme: &str| matches!(scheme, "dns" | "unix");
    /// let target = Target::parse_or_default("localhost:50051", "dns", known);
    /// assert_eq!((target.scheme(), target.endpoint()), ("dns", "localhost:50051"));
    /// let target = Target::parse_or_default("unix:/tmp/s", "dns", known);
    /// assert_eq!((target.scheme(), target.path()), ("unix", "/tmp/s"));
    /// ```
    pub fn parse_or_default(
        target: &str,
        default_scheme: &str,
        known_scheme: impl Fn(&str) -> bool,
    ) -> Target {
        match Target::parse(target) {
            Some(parsed) if known_scheme(&parsed.scheme) => parsed,
            _ => Target {
                original: target.to_owned(),
                scheme: default_scheme.to_ascii_lowercase(),
                authority: Some(String::new()),
                path: format!("/{target}"),
            },
        }
    }

    /// The scheme, lowercased: which resolver handles the target.
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// The authority between `//` and the next `/`, if the target has the `//` form (empty
    /// in `dns:///host`). For `dns` it names the DNS server to ask.
    pub fn authority(&self) -> Option<&str> {
        self.authority.as_deref()
    }

    /// The path after the authority (with its leading `/`), or everything after the scheme
    /// when there is no authority.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// What to resolve: the path without its leading `/` (`example.com:443` in
    /// `dns:///example.com:443`).
    pub fn endpoint(&self) -> &str {
        match self.authority {
            Some(_) => self.path.strip_prefix('/').unwrap_or(&self.path),
            None => &self.path,
        }
    }

    /// The target string as the user wrote it.
    pub fn as_str(&self) -> &str {
        &self.original
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(target: &Target) -> (&str, Option<&str>, &str, &str) {
        (
            target.scheme(),
            target.authority(),
            target.path(),
            target.endpoint(),
        )
    }

    #[test]
    fn the_forms_of_the_naming_doc() -> Result<(), Box<dyn std::error::Error>> {
        let cases = [
            (
                "dns:///foo.com:8080",
                ("dns", Some(""), "/foo.com:8080", "foo.com:8080"),
            ),
            (
                "dns://8.8.8.8/foo.com",
                ("dns", Some("8.8.8.8"), "/foo.com", "foo.com"),
            ),
            (
                "dns:foo.com:8080",
                ("dns", None, "foo.com:8080", "foo.com:8080"),
            ),
            ("DNS:foo", ("dns", None, "foo", "foo")),
            (
                "unix:///tmp/a.sock",
                ("unix", Some(""), "/tmp/a.sock", "tmp/a.sock"),
            ),
            (
                "unix:/tmp/a.sock",
                ("unix", None, "/tmp/a.sock", "/tmp/a.sock"),
            ),
            ("unix:rel.sock", ("unix", None, "rel.sock", "rel.sock")),
            (
                "unix-abstract:name",
                ("unix-abstract", None, "name", "name"),
            ),
            (
                "passthrough:///1.2.3.4:5",
                ("passthrough", Some(""), "/1.2.3.4:5", "1.2.3.4:5"),
            ),
            ("custom://auth", ("custom", Some("auth"), "", "")),
        ];
        for (input, expected) in cases {
            let target = Target::parse(input).ok_or_else(|| format!("{input} parses"))?;
            assert_eq!(parts(&target), expected, "{input}");
            assert_eq!(target.as_str(), input);
        }
        Ok(())
    }

    #[test]
    fn strings_without_a_scheme() -> Result<(), Box<dyn std::error::Error>> {
        for input in ["127.0.0.1:50051", "[::1]:1", ":80", "", "1abc:2", "a b:1"] {
            assert_eq!(Target::parse(input), None, "{input:?}");
        }
        // `localhost:50051` parses with the scheme `localhost`; the default rule fixes it.
        let known = |s: &str| s == "dns";
        let target = Target::parse_or_default("localhost:50051", "dns", known);
        assert_eq!(
            parts(&target),
            ("dns", Some(""), "/localhost:50051", "localhost:50051")
        );
        assert_eq!(target.as_str(), "localhost:50051");
        let target = Target::parse_or_default("[::1]:1", "dns", known);
        assert_eq!(target.endpoint(), "[::1]:1");
        Ok(())
    }
}
