//! The static table (RFC 7541 §2.3.1 and Appendix A).
//!
//! 61 predefined entries, indices 1 to 61. Decoding looks entries up by index in
//! [`STATIC_TABLE`]; encoding looks them up by name with [`find`], a `match` on the name's
//! length and then its bytes, so no hashing and no scan over the table.

/// The static table, index 1 first (Appendix A).
pub(crate) const STATIC_TABLE: [(&str, &str); 61] = [
    (":authority", ""),                   // 1
    (":method", "GET"),                   // 2
    (":method", "POST"),                  // 3
    (":path", "/"),                       // 4
    (":path", "/index.html"),             // 5
    (":scheme", "http"),                  // 6
    (":scheme", "https"),                 // 7
    (":status", "200"),                   // 8
    (":status", "204"),                   // 9
    (":status", "206"),                   // 10
    (":status", "304"),                   // 11
    (":status", "400"),                   // 12
    (":status", "404"),                   // 13
    (":status", "500"),                   // 14
    ("accept-charset", ""),               // 15
    ("accept-encoding", "gzip, deflate"), // 16
    ("accept-language", ""),              // 17
    ("accept-ranges", ""),                // 18
    ("accept", ""),                       // 19
    ("access-control-allow-origin", ""),  // 20
    ("age", ""),                          // 21
    ("allow", ""),                        // 22
    ("authorization", ""),                // 23
    ("cache-control", ""),                // 24
    ("content-disposition", ""),          // 25
    ("content-encoding", ""),             // 26
    ("content-language", ""),             // 27
    ("content-length", ""),               // 28
    ("content-location", ""),             // 29
    ("content-range", ""),                // 30
    ("content-type", ""),                 // 31
    ("cookie", ""),                       // 32
    ("date", ""),                         // 33
    ("etag", ""),                         // 34
    ("expect", ""),                       // 35
    ("expires", ""),                      // 36
    ("from", ""),                         // 37
    ("host", ""),                         // 38
    ("if-match", ""),                     // 39
    ("if-modified-since", ""),            // 40
    ("if-none-match", ""),                // 41
    ("if-range", ""),                     // 42
    ("if-unmodified-since", ""),          // 43
    ("last-modified", ""),                // 44
    ("link", ""),                         // 45
    ("location", ""),                     // 46
    ("max-forwards", ""),                 // 47
    ("proxy-authenticate", ""),           // 48
    ("proxy-authorization", ""),          // 49
    ("range", ""),                        // 50
    ("referer", ""),                      // 51
    ("refresh", ""),                      // 52
    ("retry-after", ""),                  // 53
    ("server", ""),                       // 54
    ("set-cookie", ""),                   // 55
    ("strict-transport-security", ""),    // 56
    ("transfer-encoding", ""),            // 57
    ("user-agent", ""),                   // 58
    ("vary", ""),                         // 59
    ("via", ""),                          // 60
    ("www-authenticate", ""),             // 61
];

/// Number of entries; dynamic table indices start right after (§2.3.3).
pub(crate) const LEN: usize = STATIC_TABLE.len();

/// The entry at 1-based `index`, or `None` if `index` is 0 or above 61.
#[inline]
pub(crate) fn get(index: usize) -> Option<(&'static str, &'static str)> {
    STATIC_TABLE.get(index.checked_sub(1)?).copied()
}

/// What the static table offers for a field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StaticMatch {
    /// An entry with this name and value: the field can be sent as this index alone.
    Field(usize),
    /// The lowest index of an entry with this name (but another value).
    Name(usize),
}

/// Looks a field up in the static table.
pub(crate) fn find(name: &[u8], value: &[u8]) -> Option<StaticMatch> {
    let first = name_index(name)?;
    let exact = match first {
        2 => match value {
            b"GET" => Some(2),
            b"POST" => Some(3),
            _ => None,
        },
        4 => match value {
            b"/" => Some(4),
            b"/index.html" => Some(5),
            _ => None,
        },
        6 => match value {
            b"http" => Some(6),
            b"https" => Some(7),
            _ => None,
        },
        8 => match value {
            b"200" => Some(8),
            b"204" => Some(9),
            b"206" => Some(10),
            b"304" => Some(11),
            b"400" => Some(12),
            b"404" => Some(13),
            b"500" => Some(14),
            _ => None,
        },
        16 => (value == b"gzip, deflate").then_some(16),
        // Every other static entry has an empty value.
        _ => value.is_empty().then_some(first),
    };
    Some(exact.map_or(StaticMatch::Name(first), StaticMatch::Field))
}

/// The lowest static index whose name is `name`: dispatch on the length first so each lookup
/// compares against at most six candidates.
pub(crate) fn name_index(name: &[u8]) -> Option<usize> {
    let index = match name.len() {
        3 => match name {
            b"age" => 21,
            b"via" => 60,
            _ => return None,
        },
        4 => match name {
            b"date" => 33,
            b"etag" => 34,
            b"from" => 37,
            b"host" => 38,
            b"link" => 45,
            b"vary" => 59,
            _ => return None,
        },
        5 => match name {
            b":path" => 4,
            b"allow" => 22,
            b"range" => 50,
            _ => return None,
        },
        6 => match name {
            b"accept" => 19,
            b"cookie" => 32,
            b"expect" => 35,
            b"server" => 54,
            _ => return None,
        },
        7 => match name {
            b":method" => 2,
            b":scheme" => 6,
            b":status" => 8,
            b"expires" => 36,
            b"referer" => 51,
            b"refresh" => 52,
            _ => return None,
        },
        8 => match name {
            b"if-match" => 39,
            b"if-range" => 42,
            b"location" => 46,
            _ => return None,
        },
        10 => match name {
            b":authority" => 1,
            b"set-cookie" => 55,
            b"user-agent" => 58,
            _ => return None,
        },
        11 => match name {
            b"retry-after" => 53,
            _ => return None,
        },
        12 => match name {
            b"content-type" => 31,
            b"max-forwards" => 47,
            _ => return None,
        },
        13 => match name {
            b"accept-ranges" => 18,
            b"authorization" => 23,
            b"cache-control" => 24,
            b"content-range" => 30,
            b"if-none-match" => 41,
            b"last-modified" => 44,
            _ => return None,
        },
        14 => match name {
            b"accept-charset" => 15,
            b"content-length" => 28,
            _ => return None,
        },
        15 => match name {
            b"accept-encoding" => 16,
            b"accept-language" => 17,
            _ => return None,
        },
        16 => match name {
            b"content-encoding" => 26,
            b"content-language" => 27,
            b"content-location" => 29,
            b"www-authenticate" => 61,
            _ => return None,
        },
        17 => match name {
            b"if-modified-since" => 40,
            b"transfer-encoding" => 57,
            _ => return None,
        },
        18 => match name {
            b"proxy-authenticate" => 48,
            _ => return None,
        },
        19 => match name {
            b"content-disposition" => 25,
            b"if-unmodified-since" => 43,
            b"proxy-authorization" => 49,
            _ => return None,
        },
        25 => match name {
            b"strict-transport-security" => 56,
            _ => return None,
        },
        27 => match name {
            b"access-control-allow-origin" => 20,
            _ => return None,
        },
        _ => return None,
    };
    Some(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_61_entries_with_rfc_indices() {
        assert_eq!(LEN, 61);
        assert_eq!(get(1), Some((":authority", "")));
        assert_eq!(get(2), Some((":method", "GET")));
        assert_eq!(get(8), Some((":status", "200")));
        assert_eq!(get(16), Some(("accept-encoding", "gzip, deflate")));
        assert_eq!(get(31), Some(("content-type", "")));
        assert_eq!(get(61), Some(("www-authenticate", "")));
    }

    #[test]
    fn index_zero_and_past_the_end_are_absent() {
        assert_eq!(get(0), None);
        assert_eq!(get(62), None);
        assert_eq!(get(usize::MAX), None);
    }

    #[test]
    fn name_lookup_finds_the_lowest_index_for_every_entry() {
        for (position, (name, _)) in STATIC_TABLE.iter().enumerate() {
            let lowest = STATIC_TABLE
                .iter()
                .position(|(other, _)| other == name)
                .map(|p| p + 1);
            assert_eq!(
                name_index(name.as_bytes()),
                lowest,
                "entry {}",
                position + 1
            );
        }
    }

    #[test]
    fn exact_lookup_finds_every_entry() {
        for (position, (name, value)) in STATIC_TABLE.iter().enumerate() {
            assert_eq!(
                find(name.as_bytes(), value.as_bytes()),
                Some(StaticMatch::Field(position + 1))
            );
        }
    }

    #[test]
    fn unknown_values_match_by_name_only() {
        assert_eq!(find(b":method", b"PUT"), Some(StaticMatch::Name(2)));
        assert_eq!(find(b":status", b"201"), Some(StaticMatch::Name(8)));
        assert_eq!(
            find(b"content-type", b"application/grpc"),
            Some(StaticMatch::Name(31))
        );
        assert_eq!(
            find(b"accept-encoding", b"gzip"),
            Some(StaticMatch::Name(16))
        );
    }

    #[test]
    fn unknown_names_are_not_found() {
        for name in [
            &b""[..],
            b"te",
            b"grpc-timeout",
            b"Content-Type",
            b":path2",
            b"agf",
        ] {
            assert_eq!(name_index(name), None);
            assert_eq!(find(name, b""), None);
        }
    }
}
