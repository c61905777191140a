//! What a Rego query answered: a boolean, or an object in OPA-Envoy's
//! shape. Anything else is an error, and an error is a denial.

use http::HeaderName;
use regorus::Value;

/// Why a Rego evaluation gave no usable answer. Logged with the policy's
/// name; the caller only ever sees the fixed denial.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegoError {
    /// The query was undefined, two rules conflicted, a built-in failed or
    /// a limit was hit.
    #[error("evaluation failed: {0}")]
    Evaluation(String),
    /// The answer was not a boolean or a well-formed result object.
    #[error("unusable result: {0}")]
    Result(String),
}

/// A Rego policy's answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Whether the request may go on.
    pub allowed: bool,
    /// `headers`: added to the request when allowed, to the denial otherwise.
    pub headers: Vec<(HeaderName, String)>,
    /// `response_headers_to_add`: added to the workload's response when allowed.
    pub response_headers: Vec<(HeaderName, String)>,
    /// `request_headers_to_remove`: stripped from the request when allowed.
    pub remove_headers: Vec<HeaderName>,
    /// `http_status` of a denial (300–599).
    pub http_status: Option<u16>,
    /// `body` of a denial.
    pub body: Option<String>,
}

/// Longest header value or body a policy may hand back.
const MAX_VALUE_BYTES: usize = 8 * 1024;

impl Verdict {
    /// Reads a query's value. `Undefined` (no rule matched and no default)
    /// is an error, as OPA-Envoy treats it.
    pub fn read(value: &Value) -> Result<Self, RegoError> {
        match value {
            Value::Bool(allowed) => Ok(Self {
                allowed: *allowed,
                ..Self::default()
            }),
            Value::Object(fields) => {
                let mut verdict = Self::default();
                let mut allowed = None;
                for (key, field) in fields.iter() {
                    let Value::String(key) = key else {
                        return Err(bad("result keys must be strings"));
                    };
                    match &**key {
                        "allowed" => match field {
                            Value::Bool(b) => allowed = Some(*b),
                            _ => return Err(bad("`allowed` must be a boolean")),
                        },
                        "headers" => verdict.headers = header_map(field, "headers")?,
                        "response_headers_to_add" => {
                            verdict.response_headers = header_map(field, "response_headers_to_add")?
                        }
                        "request_headers_to_remove" => {
                            verdict.remove_headers = header_names(field)?
                        }
                        "http_status" => verdict.http_status = Some(status(field)?),
                        "body" => verdict.body = Some(text(field, "body")?),
                        // Keys OPA-Envoy knows but zt-authz does not act on
                        // (dynamic_metadata, query_parameters_…): refusing
                        // them beats silently not doing what the policy says.
                        other => return Err(bad(format!("unsupported result key `{other}`"))),
                    }
                }
                verdict.allowed =
                    allowed.ok_or_else(|| bad("the result object has no `allowed`"))?;
                Ok(verdict)
            }
            Value::Undefined => Err(RegoError::Evaluation("the query is undefined".into())),
            _ => Err(bad("the result must be a boolean or an object")),
        }
    }
}

fn bad(message: impl Into<String>) -> RegoError {
    RegoError::Result(message.into())
}

fn text(value: &Value, what: &str) -> Result<String, RegoError> {
    match value {
        Value::String(s) if s.len() <= MAX_VALUE_BYTES => Ok(s.to_string()),
        Value::String(_) => Err(bad(format!(
            "`{what}` is longer than {MAX_VALUE_BYTES} bytes"
        ))),
        _ => Err(bad(format!("`{what}` must be a string"))),
    }
}

fn status(value: &Value) -> Result<u16, RegoError> {
    value
        .as_u64()
        .ok()
        .filter(|s| (300..=599).contains(s))
        .and_then(|s| u16::try_from(s).ok())
        .ok_or_else(|| bad("`http_status` must be an integer from 300 to 599"))
}

/// Headers a policy may never set: they frame the message or carry the
/// caller's credentials, so Envoy or the workload would misread them.
const REFUSED: &[&str] = &[
    "authorization",
    "connection",
    "content-length",
    "host",
    "keep-alive",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// A header name a policy may set or remove.
pub fn settable_header(name: &str) -> Result<HeaderName, RegoError> {
    let parsed = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| bad(format!("`{}` is not a header name", printable(name))))?;
    if REFUSED.contains(&parsed.as_str()) {
        return Err(bad(format!("a policy may not set `{parsed}`")));
    }
    Ok(parsed)
}

/// `{"name": "value"}`; a list of strings is joined with `, `.
fn header_map(value: &Value, what: &str) -> Result<Vec<(HeaderName, String)>, RegoError> {
    let Value::Object(fields) = value else {
        return Err(bad(format!("`{what}` must be an object")));
    };
    let mut headers = Vec::with_capacity(fields.len());
    for (name, value) in fields.iter() {
        let Value::String(name) = name else {
            return Err(bad(format!("`{what}` keys must be strings")));
        };
        let name = settable_header(name)?;
        let value = match value {
            Value::Array(items) => items
                .iter()
                .map(|i| text(i, what))
                .collect::<Result<Vec<_>, _>>()?
                .join(", "),
            other => text(other, what)?,
        };
        if value.len() > MAX_VALUE_BYTES
            || !value
                .bytes()
                .all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
        {
            return Err(bad(format!(
                "the value of `{name}` is too long or has control characters"
            )));
        }
        headers.push((name, value));
    }
    Ok(headers)
}

fn header_names(value: &Value) -> Result<Vec<HeaderName>, RegoError> {
    let Value::Array(items) = value else {
        return Err(bad("`request_headers_to_remove` must be a list"));
    };
    items
        .iter()
        .map(|i| match i {
            Value::String(s) => settable_header(s),
            _ => Err(bad("`request_headers_to_remove` must list strings")),
        })
        .collect()
}

/// A name from the policy, safe to log: non-printable bytes escaped, cut short.
fn printable(s: &str) -> String {
    s.chars().take(64).flat_map(char::escape_default).collect()
}
