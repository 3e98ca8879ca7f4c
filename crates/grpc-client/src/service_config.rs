//! The service config: per-channel parameters published by the service owner (gRPC
//! `doc/service_config.md`, the JSON form of the `grpc.service_config.ServiceConfig` proto).
//!
//! Parsed here: the load-balancing policy (`loadBalancingConfig`, gRFC A24, and the deprecated
//! `loadBalancingPolicy`), per-method configs (`methodConfig`: timeout, wait-for-ready, message
//! size limits, and the retry or hedging policy of gRFC A6), `retryThrottling` (A6) and
//! `healthCheckConfig` (gRFC A17).
//!
//! Parsing is strict about the fields it knows (a wrong type or value makes the whole config
//! invalid, so the channel keeps its previous one) and ignores fields it does not know, for
//! forward compatibility. Following proto3's JSON mapping, a `null` field is the same as an
//! absent one, and integers may be written as JSON numbers or as decimal strings.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use grpc_balancer_api::{LbConfig, LbPolicyBuilder};
use grpc_core::Code;
use serde_json::{Map, Value};

use crate::retry_policy::{
    CodeSet, HedgingPolicy, MAX_ATTEMPTS_LIMIT, RetryPolicy, RetryThrottling,
};

/// The load-balancing policy a service config selected, with its parsed config.
#[derive(Clone)]
pub(crate) struct LbChoice {
    /// The policy name, as written in the config (`round_robin`).
    pub(crate) name: String,
    /// The builder registered under that name.
    pub(crate) builder: Arc<dyn LbPolicyBuilder>,
    /// What the builder's [`parse_config`](LbPolicyBuilder::parse_config) returned.
    pub(crate) config: Option<LbConfig>,
}

impl fmt::Debug for LbChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LbChoice")
            .field("name", &self.name)
            .field("builder", &self.builder.name())
            .field("config", &self.config)
            .finish()
    }
}

/// The parameters of one `methodConfig` entry.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub(crate) struct MethodConfig {
    /// Default deadline for calls (`timeout`); the call's own deadline wins if sooner.
    pub(crate) timeout: Option<Duration>,
    /// Default wait-for-ready (`waitForReady`); the call's own setting wins.
    pub(crate) wait_for_ready: Option<bool>,
    /// Largest request message, in bytes (`maxRequestMessageBytes`); the smaller of this and
    /// the channel's setting applies.
    pub(crate) max_request_message_bytes: Option<usize>,
    /// Largest response message, in bytes (`maxResponseMessageBytes`); the smaller of this and
    /// the channel's setting applies.
    pub(crate) max_response_message_bytes: Option<usize>,
    /// Retry policy (`retryPolicy`, A6); never set together with `hedging_policy`.
    pub(crate) retry_policy: Option<RetryPolicy>,
    /// Hedging policy (`hedgingPolicy`, A6); never set together with `retry_policy`.
    pub(crate) hedging_policy: Option<HedgingPolicy>,
}

/// A parsed, validated service config.
///
/// The default value is the empty config: no policy choice (the channel uses pick_first), no
/// method configs, no throttling, no health checking.
#[derive(Clone, Debug, Default)]
pub(crate) struct ServiceConfig {
    /// The selected load-balancing policy; `None` when the config names none (the channel's
    /// default, pick_first, applies).
    pub(crate) lb_choice: Option<LbChoice>,
    /// `retryThrottling` (A6, "Throttling Retry Attempts and Hedged RPCs").
    pub(crate) retry_throttling: Option<RetryThrottling>,
    /// `healthCheckConfig.serviceName` (gRFC A17): when set, subchannels are health-checked
    /// against this service name (the empty string names the server's overall health).
    pub(crate) health_check_service_name: Option<String>,
    /// The JSON text this config was parsed from.
    pub(crate) raw: Arc<str>,
    /// Exact matches, keyed `"pkg.Service/Method"` (the request path without its leading `/`).
    methods: HashMap<String, Arc<MethodConfig>>,
    /// Whole-service defaults, keyed `"pkg.Service"`.
    services: HashMap<String, Arc<MethodConfig>>,
    /// The channel-wide default (a name with neither service nor method).
    default_method: Option<Arc<MethodConfig>>,
}

impl ServiceConfig {
    /// The method config for a call to `path` (`/pkg.Service/Method`; the leading slash is
    /// optional): the entry naming that exact method, else the one naming its service, else
    /// the channel-wide default (the most specific match wins, `doc/service_config.md`).
    ///
    /// No allocation: this runs on every call.
    pub(crate) fn method_config(&self, path: &str) -> Option<&Arc<MethodConfig>> {
        let path = path.strip_prefix('/').unwrap_or(path);
        if !self.methods.is_empty() {
            if let Some(config) = self.methods.get(path) {
                return Some(config);
            }
        }
        if !self.services.is_empty() {
            let service = path.split_once('/').map_or(path, |(service, _)| service);
            if let Some(config) = self.services.get(service) {
                return Some(config);
            }
        }
        self.default_method.as_ref()
    }

    #[cfg(test)]
    /// Whether any method config has a retry or hedging policy (if none does, calls need no
    /// retry buffer).
    pub(crate) fn has_retry_or_hedging(&self) -> bool {
        self.methods
            .values()
            .chain(self.services.values())
            .chain(self.default_method.iter())
            .any(|m| m.retry_policy.is_some() || m.hedging_policy.is_some())
    }
}

/// Parses and validates a service config.
///
/// `lookup` finds the load-balancing policy builder registered under a name (for example
/// `grpc_balancer_api::registry::lookup`, or a channel-local registry).
///
/// The error is a human-readable message that names the offending field, such as
/// `methodConfig[0].retryPolicy.maxAttempts: must be at least 2, got 1`.
pub(crate) fn parse(
    json: &str,
    lookup: &dyn Fn(&str) -> Option<Arc<dyn LbPolicyBuilder>>,
) -> Result<ServiceConfig, String> {
    let value: Value =
        serde_json::from_str(json).map_err(|e| format!("service config is not valid JSON: {e}"))?;
    let Value::Object(top) = &value else {
        return Err(format!(
            "service config must be a JSON object, got {}",
            kind(&value)
        ));
    };

    let mut config = ServiceConfig {
        raw: Arc::from(json),
        lb_choice: parse_lb_choice(top, lookup)?,
        ..ServiceConfig::default()
    };

    if let Some(list) = field(top, "methodConfig") {
        let list = array(list, "methodConfig")?;
        for (i, entry) in list.iter().enumerate() {
            add_method_config(&mut config, entry, &format!("methodConfig[{i}]"))?;
        }
    }

    if let Some(throttling) = field(top, "retryThrottling") {
        config.retry_throttling = Some(parse_retry_throttling(throttling)?);
    }

    if let Some(health) = field(top, "healthCheckConfig") {
        let health = object(health, "healthCheckConfig")?;
        if let Some(name) = field(health, "serviceName") {
            let name = string(name, "healthCheckConfig.serviceName")?;
            config.health_check_service_name = Some(name.to_owned());
        }
    }

    Ok(config)
}

/// `loadBalancingConfig` (gRFC A24), else the deprecated `loadBalancingPolicy`.
fn parse_lb_choice(
    top: &Map<String, Value>,
    lookup: &dyn Fn(&str) -> Option<Arc<dyn LbPolicyBuilder>>,
) -> Result<Option<LbChoice>, String> {
    // An empty list is the same as an absent one in proto3 JSON (a repeated field).
    if let Some(list) = field(top, "loadBalancingConfig") {
        let list = array(list, "loadBalancingConfig")?;
        // Every entry must be well formed, even those after the one selected.
        let mut entries = Vec::with_capacity(list.len());
        for (i, entry) in list.iter().enumerate() {
            let path = format!("loadBalancingConfig[{i}]");
            let entry = object(entry, &path)?;
            let mut fields = entry.iter();
            match (fields.next(), fields.next()) {
                (Some((name, config)), None) => entries.push((path, name, config)),
                _ => {
                    return Err(format!(
                        "{path}: must have exactly one field (the policy name), found {}",
                        entry.len()
                    ));
                }
            }
        }
        if !entries.is_empty() {
            // A24: the first policy the client knows is selected, and only its config is
            // parsed; if that config is invalid, so is the service config.
            for (path, name, config) in &entries {
                let Some(builder) = lookup(name) else {
                    continue;
                };
                if !config.is_object() {
                    return Err(format!(
                        "{path}.{name}: the policy's config must be a JSON object, got {}",
                        kind(config)
                    ));
                }
                let parsed = builder
                    .parse_config(config)
                    .map_err(|e| format!("{path}.{name}: invalid config: {e}"))?;
                return Ok(Some(LbChoice {
                    name: (*name).clone(),
                    builder,
                    config: parsed,
                }));
            }
            let names: Vec<&str> = entries.iter().map(|(_, name, _)| name.as_str()).collect();
            return Err(format!(
                "loadBalancingConfig: no supported policy among {names:?}"
            ));
        }
    }

    if let Some(policy) = field(top, "loadBalancingPolicy") {
        // The deprecated field names the policy in any case (`ROUND_ROBIN`). As in gRPC-Go,
        // a name we do not know leaves the choice to the channel's default.
        let name = string(policy, "loadBalancingPolicy")?.to_ascii_lowercase();
        if let Some(builder) = lookup(&name) {
            let parsed = builder
                .parse_config(&Value::Object(Map::new()))
                .map_err(|e| format!("loadBalancingPolicy: {name} needs a config: {e}"))?;
            return Ok(Some(LbChoice {
                name,
                builder,
                config: parsed,
            }));
        }
    }
    Ok(None)
}

/// Parses one `methodConfig` entry and files it under each of its names.
fn add_method_config(config: &mut ServiceConfig, entry: &Value, path: &str) -> Result<(), String> {
    let obj = object(entry, path)?;
    let method_config = Arc::new(parse_method_config(obj, path)?);

    let Some(names) = field(obj, "name") else {
        // No names: the entry applies to nothing.
        return Ok(());
    };
    let names_path = format!("{path}.name");
    for (j, name) in array(names, &names_path)?.iter().enumerate() {
        let name_path = format!("{names_path}[{j}]");
        let name = object(name, &name_path)?;
        let service = optional_string(name, "service", &name_path)?;
        let method = optional_string(name, "method", &name_path)?;
        if service.contains('/') || method.contains('/') {
            return Err(format!(
                "{name_path}: service and method names cannot contain '/'"
            ));
        }
        let duplicate = || {
            let shown = match (service, method) {
                ("", _) => "the default name {}".to_owned(),
                (s, "") => format!("service {s:?}"),
                (s, m) => format!("method {s:?}/{m:?}"),
            };
            Err(format!(
                "{name_path}: {shown} appears more than once in the service config"
            ))
        };
        match (service.is_empty(), method.is_empty()) {
            (true, true) => {
                if config.default_method.is_some() {
                    return duplicate();
                }
                config.default_method = Some(method_config.clone());
            }
            (true, false) => {
                return Err(format!(
                    "{name_path}: \"method\" {method:?} is given without a \"service\""
                ));
            }
            (false, true) => {
                if config.services.contains_key(service) {
                    return duplicate();
                }
                config
                    .services
                    .insert(service.to_owned(), method_config.clone());
            }
            (false, false) => {
                let key = format!("{service}/{method}");
                if config.methods.contains_key(&key) {
                    return duplicate();
                }
                config.methods.insert(key, method_config.clone());
            }
        }
    }
    Ok(())
}

fn parse_method_config(obj: &Map<String, Value>, path: &str) -> Result<MethodConfig, String> {
    let mut mc = MethodConfig::default();
    if let Some(v) = field(obj, "timeout") {
        mc.timeout = Some(duration(v, &format!("{path}.timeout"))?);
    }
    if let Some(v) = field(obj, "waitForReady") {
        mc.wait_for_ready = Some(boolean(v, &format!("{path}.waitForReady"))?);
    }
    if let Some(v) = field(obj, "maxRequestMessageBytes") {
        mc.max_request_message_bytes =
            Some(message_bytes(v, &format!("{path}.maxRequestMessageBytes"))?);
    }
    if let Some(v) = field(obj, "maxResponseMessageBytes") {
        mc.max_response_message_bytes = Some(message_bytes(
            v,
            &format!("{path}.maxResponseMessageBytes"),
        )?);
    }
    let retry = field(obj, "retryPolicy");
    let hedging = field(obj, "hedgingPolicy");
    if retry.is_some() && hedging.is_some() {
        // A6, "Integration with Service Config": only one of the two may be set.
        return Err(format!(
            "{path}: retryPolicy and hedgingPolicy cannot both be set"
        ));
    }
    if let Some(v) = retry {
        mc.retry_policy = Some(parse_retry_policy(v, &format!("{path}.retryPolicy"))?);
    }
    if let Some(v) = hedging {
        mc.hedging_policy = Some(parse_hedging_policy(v, &format!("{path}.hedgingPolicy"))?);
    }
    Ok(mc)
}

/// A6, "Retry Policy" and "Integration with Service Config".
fn parse_retry_policy(v: &Value, path: &str) -> Result<RetryPolicy, String> {
    let obj = object(v, path)?;
    let max_attempts = max_attempts(obj, path)?;
    let initial_backoff = positive_duration(obj, "initialBackoff", path)?;
    let max_backoff = positive_duration(obj, "maxBackoff", path)?;
    let multiplier_path = format!("{path}.backoffMultiplier");
    let backoff_multiplier = float(required(obj, "backoffMultiplier", path)?, &multiplier_path)?;
    if backoff_multiplier <= 0.0 {
        return Err(format!(
            "{multiplier_path}: must be greater than 0, got {backoff_multiplier}"
        ));
    }
    let codes_path = format!("{path}.retryableStatusCodes");
    let retryable_status_codes =
        code_set(required(obj, "retryableStatusCodes", path)?, &codes_path)?;
    if retryable_status_codes.is_empty() {
        return Err(format!("{codes_path}: must not be empty"));
    }
    Ok(RetryPolicy {
        max_attempts,
        initial_backoff,
        max_backoff,
        backoff_multiplier,
        retryable_status_codes,
    })
}

/// A6, "Hedging Policy". `hedgingDelay` defaults to zero (all attempts at once) and
/// `nonFatalStatusCodes` to none (every failure is fatal), as in the proto.
fn parse_hedging_policy(v: &Value, path: &str) -> Result<HedgingPolicy, String> {
    let obj = object(v, path)?;
    let max_attempts = max_attempts(obj, path)?;
    let hedging_delay = match field(obj, "hedgingDelay") {
        Some(v) => duration(v, &format!("{path}.hedgingDelay"))?,
        None => Duration::ZERO,
    };
    let non_fatal_status_codes = match field(obj, "nonFatalStatusCodes") {
        Some(v) => code_set(v, &format!("{path}.nonFatalStatusCodes"))?,
        None => CodeSet::EMPTY,
    };
    Ok(HedgingPolicy {
        max_attempts,
        hedging_delay,
        non_fatal_status_codes,
    })
}

/// `maxAttempts`: required, at least 2; larger than the client limit means the limit (A6,
/// "Limits on Retries and Hedges").
fn max_attempts(obj: &Map<String, Value>, path: &str) -> Result<u32, String> {
    let field_path = format!("{path}.maxAttempts");
    let n = uint(required(obj, "maxAttempts", path)?, &field_path)?;
    if n < 2 {
        return Err(format!("{field_path}: must be at least 2, got {n}"));
    }
    Ok(u32::try_from(n)
        .unwrap_or(MAX_ATTEMPTS_LIMIT)
        .min(MAX_ATTEMPTS_LIMIT))
}

fn positive_duration(obj: &Map<String, Value>, name: &str, path: &str) -> Result<Duration, String> {
    let field_path = format!("{path}.{name}");
    let d = duration(required(obj, name, path)?, &field_path)?;
    if d.is_zero() {
        return Err(format!("{field_path}: must be greater than 0"));
    }
    Ok(d)
}

fn parse_retry_throttling(v: &Value) -> Result<RetryThrottling, String> {
    let path = "retryThrottling";
    let obj = object(v, path)?;
    let max_tokens = float(
        required(obj, "maxTokens", path)?,
        "retryThrottling.maxTokens",
    )?;
    let token_ratio = float(
        required(obj, "tokenRatio", path)?,
        "retryThrottling.tokenRatio",
    )?;
    RetryThrottling::new(max_tokens, token_ratio).map_err(|e| format!("{path}.{e}"))
}

// ---- JSON helpers. Each error names the field by its path. ----

/// A field's value, with `null` read as absent (proto3 JSON).
fn field<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.get(name).filter(|v| !v.is_null())
}

fn required<'a>(obj: &'a Map<String, Value>, name: &str, path: &str) -> Result<&'a Value, String> {
    field(obj, name).ok_or_else(|| format!("{path}.{name}: required field is missing"))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn object<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>, String> {
    v.as_object()
        .ok_or_else(|| format!("{path}: must be an object, got {}", kind(v)))
}

fn array<'a>(v: &'a Value, path: &str) -> Result<&'a Vec<Value>, String> {
    v.as_array()
        .ok_or_else(|| format!("{path}: must be an array, got {}", kind(v)))
}

fn string<'a>(v: &'a Value, path: &str) -> Result<&'a str, String> {
    v.as_str()
        .ok_or_else(|| format!("{path}: must be a string, got {}", kind(v)))
}

/// A string field that may be absent (read as empty, as proto3 does).
fn optional_string<'a>(
    obj: &'a Map<String, Value>,
    name: &str,
    path: &str,
) -> Result<&'a str, String> {
    match field(obj, name) {
        Some(v) => string(v, &format!("{path}.{name}")),
        None => Ok(""),
    }
}

fn boolean(v: &Value, path: &str) -> Result<bool, String> {
    v.as_bool()
        .ok_or_else(|| format!("{path}: must be true or false, got {}", kind(v)))
}

/// A non-negative integer, as a JSON number (`4`, `4.0`, `4e0`) or a decimal string (`"4"`),
/// as proto3 JSON allows for integer fields.
fn uint(v: &Value, path: &str) -> Result<u64, String> {
    let bad = || format!("{path}: must be a non-negative integer, got {v}");
    match v {
        Value::Number(n) => {
            if let Some(n) = n.as_u64() {
                return Ok(n);
            }
            match n.as_f64() {
                // 2^64 is exactly representable; anything below it with no fraction converts
                // exactly.
                Some(f) if f >= 0.0 && f.fract() == 0.0 && f < 18_446_744_073_709_551_616.0 => {
                    Ok(f as u64)
                }
                _ => Err(bad()),
            }
        }
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse::<u64>().map_err(|_| bad())
        }
        _ => Err(bad()),
    }
}

/// `maxRequestMessageBytes` / `maxResponseMessageBytes`: a `UInt32Value` in the proto.
fn message_bytes(v: &Value, path: &str) -> Result<usize, String> {
    let n = uint(v, path)?;
    let n =
        u32::try_from(n).map_err(|_| format!("{path}: must be at most {}, got {n}", u32::MAX))?;
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

/// A finite number, as a JSON number or a string holding one (proto3 JSON).
fn float(v: &Value, path: &str) -> Result<f64, String> {
    let f = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match f {
        Some(f) if f.is_finite() => Ok(f),
        _ => Err(format!("{path}: must be a finite number, got {v}")),
    }
}

fn duration(v: &Value, path: &str) -> Result<Duration, String> {
    let s = string(v, path)?;
    parse_duration(s).map_err(|e| format!("{path}: {e}, got {s:?}"))
}

/// Largest duration protobuf's `Duration` can hold: 10,000 years, in seconds.
const MAX_DURATION_SECONDS: u64 = 315_576_000_000;

/// A protobuf JSON `Duration` ("1.5s", "0.000001s", "10s", ".1s"): decimal seconds with at
/// most nine fractional digits and an `s` suffix. Negative durations are rejected: nothing in a
/// service config can be negative.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let Some(number) = s.strip_suffix('s') else {
        return Err("a duration must be decimal seconds ending in 's'".to_owned());
    };
    if number.starts_with('-') {
        return Err("must not be negative".to_owned());
    }
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !digits(whole) || !digits(fraction) {
        return Err("a duration must be decimal seconds ending in 's'".to_owned());
    }
    if fraction.len() > 9 {
        return Err("a duration has at most nine fractional digits".to_owned());
    }
    let seconds = if whole.is_empty() {
        0
    } else {
        whole.parse::<u64>().unwrap_or(u64::MAX)
    };
    if seconds > MAX_DURATION_SECONDS {
        return Err(format!(
            "a duration is at most {MAX_DURATION_SECONDS} seconds"
        ));
    }
    let mut nanos: u32 = 0;
    for (i, b) in fraction.bytes().enumerate() {
        // At most nine digits, so this stays below 10^9.
        let place = 10u32.pow(8 - i as u32);
        nanos += u32::from(b - b'0') * place;
    }
    Ok(Duration::new(seconds, nanos))
}

/// A list of status codes: names in any case (`"UNAVAILABLE"`, `"unavailable"`) or numbers
/// 0 to 16.
fn code_set(v: &Value, path: &str) -> Result<CodeSet, String> {
    let mut set = CodeSet::EMPTY;
    for (i, item) in array(v, path)?.iter().enumerate() {
        set.insert(status_code(item, &format!("{path}[{i}]"))?);
    }
    Ok(set)
}

fn status_code(v: &Value, path: &str) -> Result<Code, String> {
    match v {
        Value::String(name) => (0..17)
            .map(Code::from_i32)
            .find(|code| code.as_str().eq_ignore_ascii_case(name))
            .ok_or_else(|| format!("{path}: unknown status code name {name:?}")),
        Value::Number(_) => match uint(v, path) {
            Ok(n) if n <= 16 => Ok(Code::from_i32(n as i32)),
            _ => Err(format!("{path}: status code numbers are 0 to 16, got {v}")),
        },
        _ => Err(format!(
            "{path}: must be a status code name or number, got {}",
            kind(v)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use grpc_balancer_api::{LbPolicy, LbPolicyOptions};

    /// A builder whose `parse_config` accepts `{}` or `{"n": <number>}` and rejects anything
    /// else, keeping the number.
    struct TestBuilder(&'static str);

    impl LbPolicyBuilder for TestBuilder {
        fn name(&self) -> &str {
            self.0
        }

        fn build(&self, _: LbPolicyOptions) -> Box<dyn LbPolicy> {
            unreachable!("the parser never builds policies")
        }

        fn parse_config(&self, config: &Value) -> Result<Option<LbConfig>, String> {
            match config.get("n") {
                None if config.as_object().is_some_and(|o| o.is_empty()) => Ok(None),
                Some(Value::Number(n)) => Ok(Some(LbConfig::new(n.as_u64().unwrap_or(0)))),
                _ => Err(format!("{} wants {{\"n\": number}}", self.0)),
            }
        }
    }

    fn lookup(name: &str) -> Option<Arc<dyn LbPolicyBuilder>> {
        match name {
            "pick_first" => Some(Arc::new(TestBuilder("pick_first"))),
            "round_robin" => Some(Arc::new(TestBuilder("round_robin"))),
            "ring_hash_experimental" => Some(Arc::new(TestBuilder("ring_hash_experimental"))),
            _ => None,
        }
    }

    fn ok(json: &str) -> Result<ServiceConfig, Box<dyn std::error::Error>> {
        match parse(json, &lookup) {
            Ok(c) => Ok(c),
            Err(e) => Err(format!("{json}: {e}").into()),
        }
    }

    fn err(json: &str) -> Result<String, Box<dyn std::error::Error>> {
        match parse(json, &lookup) {
            Ok(c) => Err(format!("{json}: accepted as {c:?}").into()),
            Err(e) => Ok(e),
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn empty_config() -> Result<(), Box<dyn std::error::Error>> {
        let c = ok("{}")?;
        assert!(c.lb_choice.is_none());
        assert!(c.retry_throttling.is_none());
        assert!(c.health_check_service_name.is_none());
        assert!(c.method_config("/a.B/C").is_none());
        assert!(!c.has_retry_or_hedging());
        assert_eq!(&*c.raw, "{}");
        assert!(ServiceConfig::default().method_config("/a.B/C").is_none());
        Ok(())
    }

    #[test]
    fn a6_retry_example() -> Result<(), Box<dyn std::error::Error>> {
        let c = ok(r#"{
            "loadBalancingPolicy": "round_robin",
            "methodConfig": [{
                "name": [{"service": "grpc.testing.TestService"}],
                "waitForReady": true,
                "retryPolicy": {
                    "maxAttempts": 4,
                    "initialBackoff": ".1s",
                    "maxBackoff": "1s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"]
                }
            }],
            "retryThrottling": {"maxTokens": 10, "tokenRatio": 0.1}
        }"#)?;
        assert_eq!(
            c.lb_choice.as_ref().map(|l| l.name.as_str()),
            Some("round_robin")
        );
        let mc = c
            .method_config("/grpc.testing.TestService/UnaryCall")
            .ok_or("no method config")?;
        assert_eq!(mc.wait_for_ready, Some(true));
        let rp = mc.retry_policy.as_ref().ok_or("no retry policy")?;
        assert_eq!(rp.max_attempts, 4);
        assert_eq!(rp.initial_backoff, ms(100));
        assert_eq!(rp.max_backoff, ms(1000));
        assert_eq!(rp.backoff_multiplier, 2.0);
        assert_eq!(
            rp.retryable_status_codes,
            [Code::Unavailable].into_iter().collect()
        );
        assert!(mc.hedging_policy.is_none());
        let t = c.retry_throttling.ok_or("no throttling")?;
        assert_eq!((t.max_tokens(), t.token_ratio()), (10.0, 0.1));
        assert!(c.has_retry_or_hedging());
        Ok(())
    }

    #[test]
    fn a6_hedging_examples() -> Result<(), Box<dyn std::error::Error>> {
        let c = ok(r#"{"methodConfig": [{
            "name": [{"service": "s.S", "method": "M"}],
            "hedgingPolicy": {
                "maxAttempts": 4,
                "hedgingDelay": ".5s",
                "nonFatalStatusCodes": ["UNAVAILABLE", "INTERNAL", "ABORTED"]
            }
        }]}"#)?;
        let hp = c
            .method_config("/s.S/M")
            .and_then(|m| m.hedging_policy.clone())
            .ok_or("no hedging policy")?;
        assert_eq!(hp.max_attempts, 4);
        assert_eq!(hp.hedging_delay, ms(500));
        assert_eq!(
            hp.non_fatal_status_codes,
            [Code::Unavailable, Code::Internal, Code::Aborted]
                .into_iter()
                .collect()
        );
        // Optional fields default to zero delay and no non-fatal codes.
        let c = ok(r#"{"methodConfig": [{"name": [{}], "hedgingPolicy": {"maxAttempts": 3}}]}"#)?;
        let hp = c
            .method_config("/x.Y/Z")
            .and_then(|m| m.hedging_policy.clone())
            .ok_or("no hedging policy")?;
        assert_eq!(hp.hedging_delay, Duration::ZERO);
        assert!(hp.non_fatal_status_codes.is_empty());
        Ok(())
    }

    #[test]
    fn method_config_fields() -> Result<(), Box<dyn std::error::Error>> {
        let c = ok(r#"{"methodConfig": [{
            "name": [{"service": "s.S"}],
            "timeout": "1.5s",
            "waitForReady": false,
            "maxRequestMessageBytes": 1024,
            "maxResponseMessageBytes": "4194304",
            "someFutureField": {"x": 1}
        }, {
            "name": [{"service": "s.S", "method": "Tiny"}],
            "timeout": "0.000001s",
            "maxRequestMessageBytes": 0,
            "maxResponseMessageBytes": 4294967295
        }]}"#)?;
        let m = c.method_config("/s.S/Other").ok_or("no config")?;
        assert_eq!(m.timeout, Some(ms(1500)));
        assert_eq!(m.wait_for_ready, Some(false));
        assert_eq!(m.max_request_message_bytes, Some(1024));
        assert_eq!(m.max_response_message_bytes, Some(4 << 20));
        let tiny = c.method_config("/s.S/Tiny").ok_or("no config")?;
        assert_eq!(tiny.timeout, Some(Duration::from_micros(1)));
        assert_eq!(tiny.max_request_message_bytes, Some(0));
        assert_eq!(tiny.max_response_message_bytes, Some(4_294_967_295));
        assert_eq!(tiny.wait_for_ready, None);
        Ok(())
    }

    #[test]
    fn method_lookup_precedence() -> Result<(), Box<dyn std::error::Error>> {
        let c = ok(r#"{"methodConfig": [
            {"name": [{"service": "pkg.Svc", "method": "Exact"}, {"service": "other.Svc", "method": "X"}], "timeout": "1s"},
            {"name": [{"service": "pkg.Svc"}], "timeout": "2s"},
            {"name": [{}], "timeout": "3s"}
        ]}"#)?;
        let timeout = |path: &str| c.method_config(path).and_then(|m| m.timeout);
        assert_eq!(timeout("/pkg.Svc/Exact"), Some(ms(1000)));
        assert_eq!(timeout("pkg.Svc/Exact"), Some(ms(1000)));
        assert_eq!(timeout("/other.Svc/X"), Some(ms(1000)));
        assert_eq!(timeout("/pkg.Svc/Other"), Some(ms(2000)));
        assert_eq!(timeout("/pkg.Svc/exact"), Some(ms(2000)));
        assert_eq!(timeout("/other.Svc/Y"), Some(ms(3000)));
        assert_eq!(timeout("/pkg.Svc2/Exact"), Some(ms(3000)));
        assert_eq!(timeout("/pkg/Svc/Exact"), Some(ms(3000)));
        assert_eq!(timeout(""), Some(ms(3000)));
        // Without a default, unmatched paths have no config.
        let c = ok(r#"{"methodConfig": [{"name": [{"service": "pkg.Svc"}], "timeout": "2s"}]}"#)?;
        assert!(c.method_config("/pkg.Svc2/M").is_none());
        assert!(c.method_config("/pkg.Svc/M").is_some());
        // The entries share one MethodConfig.
        let c = ok(r#"{"methodConfig": [{"name": [{"service": "a.A"}, {"service": "b.B"}]}]}"#)?;
        match (c.method_config("/a.A/M"), c.method_config("/b.B/M")) {
            (Some(a), Some(b)) => assert!(Arc::ptr_eq(a, b)),
            other => return Err(format!("{other:?}").into()),
        }
        Ok(())
    }

    #[test]
    fn default_name_forms() -> Result<(), Box<dyn std::error::Error>> {
        for json in [
            r#"{"methodConfig": [{"name": [{}], "timeout": "1s"}]}"#,
            r#"{"methodConfig": [{"name": [{"service": ""}], "timeout": "1s"}]}"#,
            r#"{"methodConfig": [{"name": [{"service": "", "method": ""}], "timeout": "1s"}]}"#,
            r#"{"methodConfig": [{"name": [{"service": null}], "timeout": "1s"}]}"#,
        ] {
            let c = ok(json)?;
            assert_eq!(
                c.method_config("/any.Svc/Any").and_then(|m| m.timeout),
                Some(ms(1000)),
                "{json}"
            );
        }
        // Service given with an empty method: the whole service.
        let c = ok(
            r#"{"methodConfig": [{"name": [{"service": "a.A", "method": ""}], "timeout": "1s"}]}"#,
        )?;
        assert!(c.method_config("/a.A/X").is_some());
        assert!(c.method_config("/b.B/X").is_none());
        // A method config with no names applies to nothing.
        let c = ok(r#"{"methodConfig": [{"timeout": "1s"}]}"#)?;
        assert!(c.method_config("/a.A/X").is_none());
        Ok(())
    }

    #[test]
    fn status_codes_by_name_any_case_or_number() -> Result<(), Box<dyn std::error::Error>> {
        let c = ok(r#"{"methodConfig": [{"name": [{}], "retryPolicy": {
            "maxAttempts": "3", "initialBackoff": "1s", "maxBackoff": "10s",
            "backoffMultiplier": "1.5",
            "retryableStatusCodes": ["unavailable", "Deadline_Exceeded", 8, 14, 0]
        }}]}"#)?;
        let rp = c
            .method_config("/a.B/C")
            .and_then(|m| m.retry_policy.clone())
            .ok_or("no retry policy")?;
        assert_eq!(rp.max_attempts, 3);
        assert_eq!(rp.backoff_multiplier, 1.5);
        assert_eq!(
            rp.retryable_status_codes,
            [
                Code::Unavailable,
                Code::DeadlineExceeded,
                Code::ResourceExhausted,
                Code::Ok
            ]
            .into_iter()
            .collect()
        );
        Ok(())
    }

    #[test]
    fn max_attempts_above_the_limit_is_capped() -> Result<(), Box<dyn std::error::Error>> {
        for (given, want) in [("6", 5), ("5", 5), ("100", 5), ("99999999999", 5), ("2", 2)] {
            let json = format!(
                r#"{{"methodConfig": [{{"name": [{{}}], "retryPolicy": {{
                    "maxAttempts": {given}, "initialBackoff": "1s", "maxBackoff": "1s",
                    "backoffMultiplier": 1, "retryableStatusCodes": ["UNAVAILABLE"]}}}},
                    {{"name": [{{"service": "h.H"}}], "hedgingPolicy": {{"maxAttempts": {given}}}}}]}}"#
            );
            let c = ok(&json)?;
            let rp = c
                .method_config("/a.B/C")
                .and_then(|m| m.retry_policy.clone());
            assert_eq!(rp.map(|p| p.max_attempts), Some(want), "{given}");
            let hp = c
                .method_config("/h.H/C")
                .and_then(|m| m.hedging_policy.clone());
            assert_eq!(hp.map(|p| p.max_attempts), Some(want), "{given}");
        }
        Ok(())
    }

    #[test]
    fn durations() -> Result<(), Box<dyn std::error::Error>> {
        let cases: &[(&str, Option<Duration>)] = &[
            ("1s", Some(ms(1000))),
            ("0s", Some(Duration::ZERO)),
            ("1.5s", Some(ms(1500))),
            (".1s", Some(ms(100))),
            ("1.s", Some(ms(1000))),
            ("0.000000001s", Some(Duration::from_nanos(1))),
            ("0.000001s", Some(Duration::from_micros(1))),
            ("3.000000007s", Some(Duration::new(3, 7))),
            ("315576000000s", Some(Duration::from_secs(315_576_000_000))),
            ("315576000001s", None),
            ("99999999999999999999999s", None),
            ("0.0000000001s", None),
            ("-1s", None),
            ("-0.5s", None),
            ("1", None),
            ("s", None),
            (".s", None),
            ("1ms", None),
            ("1.5", None),
            ("+1s", None),
            (" 1s", None),
            ("1 s", None),
            ("1e3s", None),
            ("1.2.3s", None),
            ("", None),
            ("١s", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_duration(input).ok(), *want, "{input:?}");
        }
        Ok(())
    }

    #[test]
    fn load_balancing_config_selection() -> Result<(), Box<dyn std::error::Error>> {
        // The first known name wins; unknown names before it are skipped.
        let c = ok(r#"{"loadBalancingConfig": [
            {"unknown_policy": {"whatever": true}},
            {"round_robin": {}},
            {"pick_first": {}}
        ]}"#)?;
        let lb = c.lb_choice.ok_or("no choice")?;
        assert_eq!(lb.name, "round_robin");
        assert_eq!(lb.builder.name(), "round_robin");
        assert!(lb.config.is_none());
        // The chosen policy's config is parsed and kept.
        let c = ok(r#"{"loadBalancingConfig": [{"ring_hash_experimental": {"n": 7}}]}"#)?;
        let lb = c.lb_choice.ok_or("no choice")?;
        assert_eq!(
            lb.config.as_ref().and_then(|c| c.downcast_ref::<u64>()),
            Some(&7)
        );
        assert!(format!("{lb:?}").contains("ring_hash_experimental"));
        // loadBalancingConfig wins over the deprecated field.
        let c = ok(
            r#"{"loadBalancingPolicy": "round_robin", "loadBalancingConfig": [{"pick_first": {}}]}"#,
        )?;
        assert_eq!(c.lb_choice.map(|l| l.name), Some("pick_first".to_owned()));
        // An empty list is the same as none: the deprecated field applies.
        let c = ok(r#"{"loadBalancingPolicy": "ROUND_ROBIN", "loadBalancingConfig": []}"#)?;
        assert_eq!(c.lb_choice.map(|l| l.name), Some("round_robin".to_owned()));
        // An unknown deprecated name leaves the channel default.
        assert!(
            ok(r#"{"loadBalancingPolicy": "no_such_policy"}"#)?
                .lb_choice
                .is_none()
        );
        assert!(ok(r#"{"loadBalancingConfig": null}"#)?.lb_choice.is_none());
        Ok(())
    }

    #[test]
    fn health_check_and_unknown_fields() -> Result<(), Box<dyn std::error::Error>> {
        let c = ok(
            r#"{"healthCheckConfig": {"serviceName": "grpc.health.v1.Health"}, "futureTopLevel": [1, 2]}"#,
        )?;
        assert_eq!(
            c.health_check_service_name.as_deref(),
            Some("grpc.health.v1.Health")
        );
        let c = ok(r#"{"healthCheckConfig": {"serviceName": ""}}"#)?;
        assert_eq!(c.health_check_service_name.as_deref(), Some(""));
        let c = ok(r#"{"healthCheckConfig": {}}"#)?;
        assert!(c.health_check_service_name.is_none());
        Ok(())
    }

    #[test]
    fn throttling_values() -> Result<(), Box<dyn std::error::Error>> {
        let c = ok(r#"{"retryThrottling": {"maxTokens": "1000", "tokenRatio": "0.5"}}"#)?;
        let t = c.retry_throttling.ok_or("none")?;
        assert_eq!((t.max_tokens(), t.token_ratio()), (1000.0, 0.5));
        let c = ok(r#"{"retryThrottling": {"maxTokens": 3, "tokenRatio": 0.12345}}"#)?;
        let t = c.retry_throttling.ok_or("none")?;
        assert_eq!(t.token_ratio(), 0.123);
        Ok(())
    }

    #[test]
    fn invalid_configs() -> Result<(), Box<dyn std::error::Error>> {
        const RETRY_OK: &str = r#""maxAttempts": 3, "initialBackoff": "1s", "maxBackoff": "2s", "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]"#;
        let retry = |fields: &str| {
            format!(r#"{{"methodConfig": [{{"name": [{{}}], "retryPolicy": {{{fields}}}}}]}}"#)
        };
        let replace = |from: &str, to: &str| retry(&RETRY_OK.replace(from, to));
        let hedge = |fields: &str| {
            format!(r#"{{"methodConfig": [{{"name": [{{}}], "hedgingPolicy": {{{fields}}}}}]}}"#)
        };
        let method =
            |fields: &str| format!(r#"{{"methodConfig": [{{"name": [{{}}], {fields}}}]}}"#);
        let cases: Vec<(String, &str)> = vec![
            // Top level.
            ("".into(), "not valid JSON"),
            ("{".into(), "not valid JSON"),
            ("[]".into(), "must be a JSON object, got an array"),
            ("\"x\"".into(), "must be a JSON object"),
            ("null".into(), "must be a JSON object"),
            (r#"{"methodConfig": {}}"#.into(), "methodConfig: must be an array"),
            (r#"{"methodConfig": [1]}"#.into(), "methodConfig[0]: must be an object"),
            // loadBalancingConfig (A24).
            (r#"{"loadBalancingConfig": {}}"#.into(), "loadBalancingConfig: must be an array"),
            (r#"{"loadBalancingConfig": ["round_robin"]}"#.into(), "loadBalancingConfig[0]: must be an object"),
            (r#"{"loadBalancingConfig": [{}]}"#.into(), "loadBalancingConfig[0]: must have exactly one field"),
            (r#"{"loadBalancingConfig": [{"round_robin": {}, "pick_first": {}}]}"#.into(), "exactly one field"),
            (r#"{"loadBalancingConfig": [{"round_robin": {}}, {"a": {}, "b": {}}]}"#.into(), "loadBalancingConfig[1]"),
            (r#"{"loadBalancingConfig": [{"foo": {}}, {"bar": {}}]}"#.into(), "no supported policy among [\"foo\", \"bar\"]"),
            (r#"{"loadBalancingConfig": [{"ring_hash_experimental": {"n": "x"}}, {"round_robin": {}}]}"#.into(), "loadBalancingConfig[0].ring_hash_experimental: invalid config"),
            (r#"{"loadBalancingConfig": [{"round_robin": []}]}"#.into(), "round_robin: the policy's config must be a JSON object"),
            (r#"{"loadBalancingPolicy": 3}"#.into(), "loadBalancingPolicy: must be a string"),
            // Names.
            (r#"{"methodConfig": [{"name": {}}]}"#.into(), "methodConfig[0].name: must be an array"),
            (r#"{"methodConfig": [{"name": ["s"]}]}"#.into(), "methodConfig[0].name[0]: must be an object"),
            (r#"{"methodConfig": [{"name": [{"method": "M"}]}]}"#.into(), "methodConfig[0].name[0]: \"method\" \"M\" is given without a \"service\""),
            (r#"{"methodConfig": [{"name": [{"service": "", "method": "M"}]}]}"#.into(), "without a \"service\""),
            (r#"{"methodConfig": [{"name": [{"service": 5}]}]}"#.into(), "methodConfig[0].name[0].service: must be a string"),
            (r#"{"methodConfig": [{"name": [{"service": "a/b"}]}]}"#.into(), "cannot contain '/'"),
            (r#"{"methodConfig": [{"name": [{"service": "s.S", "method": "M"}]}, {"name": [{"service": "s.S", "method": "M"}]}]}"#.into(), "methodConfig[1].name[0]: method \"s.S\"/\"M\" appears more than once"),
            (r#"{"methodConfig": [{"name": [{"service": "s.S"}, {"service": "s.S"}]}]}"#.into(), "methodConfig[0].name[1]: service \"s.S\" appears more than once"),
            (r#"{"methodConfig": [{"name": [{}]}, {"name": [{"service": ""}]}]}"#.into(), "methodConfig[1].name[0]: the default name {} appears more than once"),
            // Method config fields.
            (method(r#""timeout": "-1s""#), "methodConfig[0].timeout: must not be negative"),
            (method(r#""timeout": "1""#), "methodConfig[0].timeout: a duration must be decimal seconds"),
            (method(r#""timeout": 1"#), "methodConfig[0].timeout: must be a string"),
            (method(r#""timeout": "0.0000000001s""#), "nine fractional digits"),
            (method(r#""waitForReady": "yes""#), "methodConfig[0].waitForReady: must be true or false"),
            (method(r#""maxRequestMessageBytes": -1"#), "methodConfig[0].maxRequestMessageBytes: must be a non-negative integer"),
            (method(r#""maxRequestMessageBytes": 1.5"#), "maxRequestMessageBytes: must be a non-negative integer"),
            (method(r#""maxResponseMessageBytes": "12x""#), "maxResponseMessageBytes: must be a non-negative integer"),
            (method(r#""maxResponseMessageBytes": 4294967296"#), "maxResponseMessageBytes: must be at most 4294967295"),
            (method(&format!(r#""retryPolicy": {{{RETRY_OK}}}, "hedgingPolicy": {{"maxAttempts": 2}}"#)), "methodConfig[0]: retryPolicy and hedgingPolicy cannot both be set"),
            (method(r#""retryPolicy": []"#), "methodConfig[0].retryPolicy: must be an object"),
            // Retry policy (A6).
            (replace(r#""maxAttempts": 3, "#, ""), "retryPolicy.maxAttempts: required field is missing"),
            (replace(r#""maxAttempts": 3"#, r#""maxAttempts": 1"#), "retryPolicy.maxAttempts: must be at least 2, got 1"),
            (replace(r#""maxAttempts": 3"#, r#""maxAttempts": 0"#), "must be at least 2"),
            (replace(r#""maxAttempts": 3"#, r#""maxAttempts": -3"#), "maxAttempts: must be a non-negative integer"),
            (replace(r#""maxAttempts": 3"#, r#""maxAttempts": 2.5"#), "maxAttempts: must be a non-negative integer"),
            (replace(r#""maxAttempts": 3"#, r#""maxAttempts": null"#), "maxAttempts: required field is missing"),
            (replace(r#""initialBackoff": "1s", "#, ""), "retryPolicy.initialBackoff: required field is missing"),
            (replace(r#""initialBackoff": "1s""#, r#""initialBackoff": "0s""#), "retryPolicy.initialBackoff: must be greater than 0"),
            (replace(r#""initialBackoff": "1s""#, r#""initialBackoff": "-1s""#), "initialBackoff: must not be negative"),
            (replace(r#""maxBackoff": "2s", "#, ""), "retryPolicy.maxBackoff: required field is missing"),
            (replace(r#""maxBackoff": "2s""#, r#""maxBackoff": "0.0s""#), "retryPolicy.maxBackoff: must be greater than 0"),
            (replace(r#""maxBackoff": "2s""#, r#""maxBackoff": "two""#), "retryPolicy.maxBackoff: a duration must be"),
            (replace(r#""backoffMultiplier": 2, "#, ""), "retryPolicy.backoffMultiplier: required field is missing"),
            (replace(r#""backoffMultiplier": 2"#, r#""backoffMultiplier": 0"#), "backoffMultiplier: must be greater than 0"),
            (replace(r#""backoffMultiplier": 2"#, r#""backoffMultiplier": -2"#), "backoffMultiplier: must be greater than 0"),
            (replace(r#""backoffMultiplier": 2"#, r#""backoffMultiplier": "fast""#), "backoffMultiplier: must be a finite number"),
            (replace(r#""backoffMultiplier": 2"#, r#""backoffMultiplier": "Infinity""#), "backoffMultiplier: must be a finite number"),
            (replace(r#", "retryableStatusCodes": ["UNAVAILABLE"]"#, ""), "retryPolicy.retryableStatusCodes: required field is missing"),
            (replace(r#"["UNAVAILABLE"]"#, "[]"), "retryPolicy.retryableStatusCodes: must not be empty"),
            (replace(r#"["UNAVAILABLE"]"#, r#""UNAVAILABLE""#), "retryableStatusCodes: must be an array"),
            (replace(r#"["UNAVAILABLE"]"#, r#"["UNAVAILABLE", "NOPE"]"#), "retryableStatusCodes[1]: unknown status code name \"NOPE\""),
            (replace(r#"["UNAVAILABLE"]"#, "[17]"), "retryableStatusCodes[0]: status code numbers are 0 to 16, got 17"),
            (replace(r#"["UNAVAILABLE"]"#, "[-1]"), "status code numbers are 0 to 16"),
            (replace(r#"["UNAVAILABLE"]"#, "[true]"), "retryableStatusCodes[0]: must be a status code name or number"),
            // Hedging policy (A6).
            (hedge(r#""hedgingDelay": "1s""#), "hedgingPolicy.maxAttempts: required field is missing"),
            (hedge(r#""maxAttempts": 1"#), "hedgingPolicy.maxAttempts: must be at least 2"),
            (hedge(r#""maxAttempts": 2, "hedgingDelay": "-1s""#), "hedgingPolicy.hedgingDelay: must not be negative"),
            (hedge(r#""maxAttempts": 2, "nonFatalStatusCodes": ["BAD"]"#), "hedgingPolicy.nonFatalStatusCodes[0]: unknown status code name"),
            // Throttling (A6).
            (r#"{"retryThrottling": []}"#.into(), "retryThrottling: must be an object"),
            (r#"{"retryThrottling": {"tokenRatio": 0.1}}"#.into(), "retryThrottling.maxTokens: required field is missing"),
            (r#"{"retryThrottling": {"maxTokens": 10}}"#.into(), "retryThrottling.tokenRatio: required field is missing"),
            (r#"{"retryThrottling": {"maxTokens": 0, "tokenRatio": 0.1}}"#.into(), "retryThrottling.maxTokens: must be greater than 0 and at most 1000"),
            (r#"{"retryThrottling": {"maxTokens": 1001, "tokenRatio": 0.1}}"#.into(), "retryThrottling.maxTokens: must be greater than 0 and at most 1000"),
            (r#"{"retryThrottling": {"maxTokens": 10, "tokenRatio": 0}}"#.into(), "retryThrottling.tokenRatio: must be greater than 0"),
            (r#"{"retryThrottling": {"maxTokens": 10, "tokenRatio": 0.0001}}"#.into(), "retryThrottling.tokenRatio: must be at least 0.001"),
            (r#"{"retryThrottling": {"maxTokens": "ten", "tokenRatio": 0.1}}"#.into(), "retryThrottling.maxTokens: must be a finite number"),
            // Health checking (A17).
            (r#"{"healthCheckConfig": "x"}"#.into(), "healthCheckConfig: must be an object"),
            (r#"{"healthCheckConfig": {"serviceName": 1}}"#.into(), "healthCheckConfig.serviceName: must be a string"),
        ];
        for (json, fragment) in &cases {
            let e = err(json)?;
            assert!(
                e.contains(fragment),
                "{json}\n  error: {e}\n  wanted: {fragment}"
            );
        }
        Ok(())
    }

    #[test]
    fn hostile_input_never_panics() -> Result<(), Box<dyn std::error::Error>> {
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(parse(&deep, &lookup).is_err());
        let deep_in_field = format!(r#"{{"x": {}1{}}}"#, "[".repeat(5_000), "]".repeat(5_000));
        let _ = parse(&deep_in_field, &lookup);
        let big = r#"{"methodConfig": [{"name": [{}], "timeout": "18446744073709551616.999999999s",
            "maxRequestMessageBytes": 1e300}]}"#;
        assert!(parse(big, &lookup).is_err());
        let codes = r#"{"methodConfig": [{"name": [{}], "retryPolicy": {"maxAttempts": 1e30,
            "initialBackoff": "1s", "maxBackoff": "1s", "backoffMultiplier": 1e308,
            "retryableStatusCodes": [1e300]}}]}"#;
        assert!(parse(codes, &lookup).is_err());
        Ok(())
    }
}
