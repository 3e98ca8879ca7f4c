//! Service configs from DNS TXT records (gRFC A2, "Service Config via DNS", which gRPC's
//! service_config.md points to for DNS).
//!
//! The TXT record at `_grpc_config.<host>` holds `grpc_config=<JSON>` (RFC 1464 attribute
//! form). The JSON is a list of choices; the first choice whose criteria match this client
//! wins, and its `serviceConfig` object is the config:
//!
//! ```text
//! [{"clientLanguage": ["rust"], "percentage": 50, "clientHostname": ["web-1"],
//!   "serviceConfig": {"loadBalancingPolicy": "round_robin"}}]
//! ```

use serde_json::{Map, Value};

/// The RFC 1464 attribute name of gRPC's TXT records, with its `=`.
const ATTRIBUTE: &str = "grpc_config=";

/// The language this client matches in `clientLanguage` (compared case-insensitively).
pub(crate) const CLIENT_LANGUAGE: &str = "rust";

/// What the choice criteria are checked against.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Client<'a> {
    /// This host's name, if known (a choice listing host names never matches without one).
    pub(crate) hostname: Option<&'a str>,
    /// A uniform draw from `0..100` for the `percentage` criterion.
    pub(crate) percentile: u32,
}

/// Turns the TXT records found at `_grpc_config.<host>` (each record's strings already
/// joined, as A2 asks after RFC 4408 section 3.1.3) into the resolver's service-config result:
/// - `None` when no record carries the `grpc_config=` attribute, or no choice applies to us;
/// - `Some(Ok(json))`, the chosen `serviceConfig` re-serialized;
/// - `Some(Err(why))` when the value is not valid JSON or any choice is invalid (A2: "If the
///   service config choice cannot be parsed, or otherwise is not semantically valid, the
///   entire service config will be discarded", per gRFC A21).
///
/// Records carrying the attribute are concatenated in the order given, attribute prefix
/// removed, so a value split over several records still reads as one.
pub(crate) fn from_txt_records<S: AsRef<str>>(
    records: &[S],
    client: Client<'_>,
) -> Option<Result<String, String>> {
    let mut json = String::new();
    let mut found = false;
    for record in records {
        if let Some(value) = record.as_ref().strip_prefix(ATTRIBUTE) {
            json.push_str(value);
            found = true;
        }
    }
    if !found {
        return None;
    }
    match choose(&json, client) {
        Ok(Some(config)) => Some(Ok(config)),
        Ok(None) => None,
        Err(why) => Some(Err(format!("invalid grpc_config TXT record: {why}"))),
    }
}

/// Validates every choice, then returns the `serviceConfig` of the first that applies.
fn choose(json: &str, client: Client<'_>) -> Result<Option<String>, String> {
    let value: Value = serde_json::from_str(json).map_err(|e| format!("bad JSON: {e}"))?;
    let Value::Array(choices) = value else {
        return Err("the value is not a JSON array of choices".to_owned());
    };
    let choices = choices
        .iter()
        .enumerate()
        .map(|(i, choice)| Choice::parse(choice).map_err(|why| format!("choice {i}: {why}")))
        .collect::<Result<Vec<_>, _>>()?;
    for choice in choices {
        if choice.applies_to(client) {
            return serde_json::to_string(choice.service_config)
                .map(Some)
                .map_err(|e| format!("cannot re-serialize serviceConfig: {e}"));
        }
    }
    Ok(None)
}

/// One validated choice; absent or empty criteria match every client.
struct Choice<'a> {
    languages: Vec<&'a str>,
    percentage: Option<u32>,
    hostnames: Vec<&'a str>,
    service_config: &'a Map<String, Value>,
}

impl<'a> Choice<'a> {
    fn parse(value: &'a Value) -> Result<Choice<'a>, String> {
        let Value::Object(fields) = value else {
            return Err("not a JSON object".to_owned());
        };
        // A2: "If any unexpected field name is present in this object, the entire choice is
        // considered invalid."
        if let Some(unknown) = fields.keys().find(|key| {
            !matches!(
                key.as_str(),
                "clientLanguage" | "percentage" | "clientHostname" | "serviceConfig"
            )
        }) {
            return Err(format!("unexpected field {unknown:?}"));
        }
        let percentage = match fields.get("percentage") {
            None => None,
            // A2: an integer from 0 to 100; anything else is invalid.
            Some(Value::Number(n)) => match n.as_u64() {
                Some(p) if p <= 100 => u32::try_from(p).ok(),
                _ => return Err(format!("percentage {n} is not an integer from 0 to 100")),
            },
            Some(_) => return Err("percentage is not a number".to_owned()),
        };
        let service_config = match fields.get("serviceConfig") {
            Some(Value::Object(config)) => config,
            Some(_) => return Err("serviceConfig is not a JSON object".to_owned()),
            None => return Err("serviceConfig is missing".to_owned()),
        };
        Ok(Choice {
            languages: string_list(fields, "clientLanguage")?,
            percentage,
            hostnames: string_list(fields, "clientHostname")?,
            service_config,
        })
    }

    fn applies_to(&self, client: Client<'_>) -> bool {
        // A2: languages are case-insensitive; host names are exact and case-sensitive.
        let language = self.languages.is_empty()
            || self
                .languages
                .iter()
                .any(|l| l.eq_ignore_ascii_case(CLIENT_LANGUAGE));
        let percentage = self.percentage.is_none_or(|p| client.percentile < p);
        let hostname = self.hostnames.is_empty()
            || client
                .hostname
                .is_some_and(|host| self.hostnames.contains(&host));
        language && percentage && hostname
    }
}

fn string_list<'a>(fields: &'a Map<String, Value>, key: &str) -> Result<Vec<&'a str>, String> {
    match fields.get(key) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .ok_or_else(|| format!("{key} holds a non-string"))
            })
            .collect(),
        Some(_) => Err(format!("{key} is not a list of strings")),
    }
}

/// This host's name as the system reports it (for `clientHostname`), read once.
pub(crate) fn system_hostname() -> Option<&'static str> {
    static HOSTNAME: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    HOSTNAME
        .get_or_init(|| {
            ["/proc/sys/kernel/hostname", "/etc/hostname"]
                .iter()
                .find_map(|path| std::fs::read_to_string(path).ok())
                .or_else(|| std::env::var("HOSTNAME").ok())
                .map(|name| name.trim().to_owned())
                .filter(|name| !name.is_empty())
        })
        .as_deref()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANYONE: Client<'static> = Client {
        hostname: Some("web-1"),
        percentile: 0,
    };

    fn chosen(
        records: &[&str],
        client: Client<'_>,
    ) -> Result<Option<Result<Value, String>>, Box<dyn std::error::Error>> {
        match from_txt_records(records, client) {
            None => Ok(None),
            Some(Err(why)) => Ok(Some(Err(why))),
            Some(Ok(json)) => Ok(Some(Ok(serde_json::from_str(&json)?))),
        }
    }

    fn lb(policy: &str) -> Value {
        serde_json::json!({ "loadBalancingPolicy": policy })
    }

    #[test]
    fn no_attribute_means_no_config() -> Result<(), Box<dyn std::error::Error>> {
        assert!(from_txt_records::<&str>(&[], ANYONE).is_none());
        assert!(from_txt_records(&["v=spf1 -all", "other=1"], ANYONE).is_none());
        Ok(())
    }

    #[test]
    fn the_first_applicable_choice_wins() -> Result<(), Box<dyn std::error::Error>> {
        let record = r#"grpc_config=[
            {"clientLanguage": ["go", "java"], "serviceConfig": {"loadBalancingPolicy": "go"}},
            {"clientLanguage": ["RuSt"], "serviceConfig": {"loadBalancingPolicy": "rust"}},
            {"serviceConfig": {"loadBalancingPolicy": "anyone"}}
        ]"#;
        assert_eq!(chosen(&[record], ANYONE)?, Some(Ok(lb("rust"))));
        Ok(())
    }

    #[test]
    fn empty_criteria_match_everyone() -> Result<(), Box<dyn std::error::Error>> {
        let record = r#"grpc_config=[{"clientLanguage": [], "clientHostname": [],
            "serviceConfig": {"loadBalancingPolicy": "x"}}]"#;
        let nobody = Client {
            hostname: None,
            percentile: 99,
        };
        assert_eq!(chosen(&[record], nobody)?, Some(Ok(lb("x"))));
        Ok(())
    }

    #[test]
    fn percentage_compares_the_draw() -> Result<(), Box<dyn std::error::Error>> {
        let record = r#"grpc_config=[
            {"percentage": 30, "serviceConfig": {"loadBalancingPolicy": "canary"}},
            {"percentage": 0, "serviceConfig": {"loadBalancingPolicy": "never"}},
            {"percentage": 100, "serviceConfig": {"loadBalancingPolicy": "stable"}}
        ]"#;
        let at = |percentile| Client {
            hostname: None,
            percentile,
        };
        assert_eq!(chosen(&[record], at(0))?, Some(Ok(lb("canary"))));
        assert_eq!(chosen(&[record], at(29))?, Some(Ok(lb("canary"))));
        assert_eq!(chosen(&[record], at(30))?, Some(Ok(lb("stable"))));
        assert_eq!(chosen(&[record], at(99))?, Some(Ok(lb("stable"))));
        Ok(())
    }

    #[test]
    fn hostnames_match_exactly() -> Result<(), Box<dyn std::error::Error>> {
        let record = r#"grpc_config=[
            {"clientHostname": ["WEB-1", "web-2"], "serviceConfig": {"loadBalancingPolicy": "a"}},
            {"clientHostname": ["web-1"], "serviceConfig": {"loadBalancingPolicy": "b"}}
        ]"#;
        assert_eq!(chosen(&[record], ANYONE)?, Some(Ok(lb("b"))));
        let unknown_host = Client {
            hostname: None,
            percentile: 0,
        };
        assert_eq!(chosen(&[record], unknown_host)?, None, "no choice applies");
        Ok(())
    }

    #[test]
    fn attribute_records_are_concatenated() -> Result<(), Box<dyn std::error::Error>> {
        let records = [
            r#"grpc_config=[{"serviceConfig":"#,
            "unrelated",
            r#"grpc_config={"loadBalancingPolicy":"split"}}]"#,
        ];
        assert_eq!(chosen(&records, ANYONE)?, Some(Ok(lb("split"))));
        Ok(())
    }

    #[test]
    fn the_config_is_re_serialized_compactly() -> Result<(), Box<dyn std::error::Error>> {
        let record = "grpc_config=[ { \"serviceConfig\" : { \"a\" : [ 1 , 2 ] } } ]";
        assert_eq!(
            from_txt_records(&[record], ANYONE),
            Some(Ok(r#"{"a":[1,2]}"#.to_owned()))
        );
        Ok(())
    }

    #[test]
    fn malformed_values_are_errors() -> Result<(), Box<dyn std::error::Error>> {
        let bad = [
            "grpc_config=",
            "grpc_config=not json",
            "grpc_config={\"serviceConfig\":{}}",
            "grpc_config=[1]",
            "grpc_config=[{}]",
            "grpc_config=[{\"serviceConfig\":[]}]",
            "grpc_config=[{\"serviceConfig\":{},\"extra\":1}]",
            "grpc_config=[{\"serviceConfig\":{},\"percentage\":101}]",
            "grpc_config=[{\"serviceConfig\":{},\"percentage\":-1}]",
            "grpc_config=[{\"serviceConfig\":{},\"percentage\":50.5}]",
            "grpc_config=[{\"serviceConfig\":{},\"percentage\":\"50\"}]",
            "grpc_config=[{\"serviceConfig\":{},\"clientLanguage\":\"rust\"}]",
            "grpc_config=[{\"serviceConfig\":{},\"clientHostname\":[1]}]",
            // An invalid choice after the chosen one still spoils the record.
            "grpc_config=[{\"serviceConfig\":{}},{\"bogus\":true}]",
        ];
        for record in bad {
            match from_txt_records(&[record], ANYONE) {
                Some(Err(why)) => assert!(why.contains("grpc_config"), "{why}"),
                other => return Err(format!("{record}: expected an error, got {other:?}").into()),
            }
        }
        Ok(())
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() -> Result<(), Box<dyn std::error::Error>> {
        let deep = format!("grpc_config={}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(matches!(from_txt_records(&[deep], ANYONE), Some(Err(_))));
        Ok(())
    }
}
