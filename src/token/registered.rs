//! The registered claims of a token's payload: kept from the one read of
//! the payload, then type-checked, before anything is judged.

use serde_json::Value;

use super::TokenError;
use super::json::ObjectError;
use super::scan::scan_object;
use crate::revocation::MAX_REVOCATION_VALUE;

/// The claims zt-authz reads itself, in the order `Registered` keeps them.
const REGISTERED: [&str; 14] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "auth_time",
    "jti",
    "sid",
    "acr",
    "scope",
    "scp",
    "events",
    "cnf",
];

/// The registered claims of a payload, as it carried them; nothing
/// checked but that the payload is one JSON object with every member name
/// at most once, at any depth.
pub(super) struct Registered([Option<Value>; REGISTERED.len()]);

impl Registered {
    pub fn scan(payload: &[u8]) -> Result<Self, ObjectError> {
        scan_object(payload, &REGISTERED).map(Self)
    }

    /// The claim, if the payload has it. Only registered names are kept.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0[slot(name)?].as_ref()
    }

    fn take(&mut self, name: &str) -> Option<Value> {
        self.0[slot(name)?].take()
    }
}

/// Where `Registered` keeps the claim `name`; a name it does not keep is a
/// mistake in this file, caught by the tests.
fn slot(name: &str) -> Option<usize> {
    let slot = REGISTERED.iter().position(|r| *r == name);
    debug_assert!(slot.is_some(), "{name} is not kept");
    slot
}

/// The registered claims, type-checked but not yet judged.
pub(super) struct TypedClaims {
    pub subject: Option<String>,
    pub audiences: Vec<String>,
    pub exp: f64,
    pub nbf: Option<f64>,
    pub iat: Option<f64>,
    pub auth_time: Option<f64>,
    pub jti: Option<String>,
    pub sid: Option<String>,
    pub acr: Option<String>,
    pub scopes: Vec<String>,
    /// Checked where the binding is, on every use of the token.
    pub cnf: Option<Value>,
}

impl TypedClaims {
    pub fn read(mut claims: Registered) -> Result<Self, TokenError> {
        Ok(Self {
            subject: revocable(&mut claims, "sub")?,
            audiences: audiences(&claims)?,
            exp: numeric_date(&claims, "exp")?.ok_or(TokenError::MissingClaim("exp"))?,
            nbf: numeric_date(&claims, "nbf")?,
            iat: numeric_date(&claims, "iat")?,
            auth_time: numeric_date(&claims, "auth_time")?,
            jti: revocable(&mut claims, "jti")?,
            sid: revocable(&mut claims, "sid")?,
            acr: string(&mut claims, "acr")?,
            scopes: scopes(&claims)?,
            cnf: claims.take("cnf"),
        })
    }
}

fn string(claims: &mut Registered, name: &'static str) -> Result<Option<String>, TokenError> {
    match claims.take(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(TokenError::ClaimType(name)),
    }
}

/// A string claim a revocation can name: not empty and no longer than a
/// revocation value, so that no accepted token escapes revocation by it.
fn revocable(claims: &mut Registered, name: &'static str) -> Result<Option<String>, TokenError> {
    match string(claims, name)? {
        Some(s) if s.len() > MAX_REVOCATION_VALUE => Err(TokenError::ClaimTooLong(name)),
        Some(s) if s.is_empty() => Err(TokenError::ClaimEmpty(name)),
        other => Ok(other),
    }
}

/// RFC 7519 NumericDate: any finite JSON number, fractions allowed.
fn numeric_date(claims: &Registered, name: &'static str) -> Result<Option<f64>, TokenError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .filter(|f| f.is_finite())
            .map(Some)
            .ok_or(TokenError::ClaimType(name)),
        Some(_) => Err(TokenError::ClaimType(name)),
    }
}

fn audiences(claims: &Registered) -> Result<Vec<String>, TokenError> {
    match claims.get("aud") {
        None => Err(TokenError::MissingClaim("aud")),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or(TokenError::ClaimType("aud"))
            })
            .collect(),
        Some(_) => Err(TokenError::ClaimType("aud")),
    }
}

/// RFC 9068 `scope` (space-separated) wins; `scp` (array or string) counts
/// only when `scope` is absent.
/// Every scope must be an RFC 6749 scope token, so what is checked is what
/// a workload splitting `x-auth-scopes` on whitespace reads.
fn scopes(claims: &Registered) -> Result<Vec<String>, TokenError> {
    let split = |s: &str, name| {
        s.split(' ')
            .filter(|s| !s.is_empty())
            .map(|s| scope_token(s, name))
            .collect()
    };
    match (claims.get("scope"), claims.get("scp")) {
        (Some(Value::String(s)), _) => split(s, "scope"),
        (Some(_), _) => Err(TokenError::ClaimType("scope")),
        (None, None) => Ok(Vec::new()),
        (None, Some(Value::String(s))) => split(s, "scp"),
        (None, Some(Value::Array(items))) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .ok_or(TokenError::ClaimType("scp"))
                    .and_then(|s| scope_token(s, "scp"))
            })
            .collect(),
        (None, Some(_)) => Err(TokenError::ClaimType("scp")),
    }
}

/// `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
fn scope_token(s: &str, claim: &'static str) -> Result<String, TokenError> {
    let nqchar = |b: u8| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E);
    if !s.is_empty() && s.bytes().all(nqchar) {
        Ok(s.to_owned())
    } else {
        Err(TokenError::NotScopes(claim))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(v: Value) -> Result<TypedClaims, TokenError> {
        TypedClaims::read(Registered::scan(&serde_json::to_vec(&v).unwrap()).unwrap())
    }

    #[test]
    fn every_registered_claim_is_type_checked_under_its_own_name() {
        for (name, bad) in [
            ("sub", json!(7)),
            ("jti", json!(["a"])),
            ("sid", json!({})),
            ("acr", json!(1)),
            ("nbf", json!("1")),
            ("iat", json!(true)),
            ("auth_time", json!(null)),
        ] {
            let mut claims = json!({"aud": "a", "exp": 1});
            claims[name] = bad;
            assert_eq!(
                read(claims).err(),
                Some(TokenError::ClaimType(name)),
                "{name}"
            );
        }
    }

    #[test]
    fn numeric_dates_accept_fractions_and_refuse_other_types() {
        let ok = read(json!({"aud":"a","exp": 10.5,"iat": 1})).unwrap();
        assert_eq!(ok.exp, 10.5);
        assert_eq!(ok.iat, Some(1.0));
        for bad in [json!("10"), json!(true), json!(null), json!([1])] {
            assert_eq!(
                read(json!({"aud":"a","exp": bad})).err(),
                Some(TokenError::ClaimType("exp"))
            );
        }
        assert_eq!(
            read(json!({"aud":"a"})).err(),
            Some(TokenError::MissingClaim("exp"))
        );
    }

    #[test]
    fn audience_shapes() {
        assert_eq!(
            read(json!({"aud":["a","b"],"exp":1})).unwrap().audiences,
            ["a", "b"]
        );
        assert_eq!(
            read(json!({"aud":7,"exp":1})).err(),
            Some(TokenError::ClaimType("aud"))
        );
        assert_eq!(
            read(json!({"aud":["a",7],"exp":1})).err(),
            Some(TokenError::ClaimType("aud"))
        );
    }

    #[test]
    fn scope_wins_over_scp() {
        let c = read(json!({"aud":"a","exp":1,"scope":"x  y","scp":["z"]})).unwrap();
        assert_eq!(c.scopes, ["x", "y"]);
        let c = read(json!({"aud":"a","exp":1,"scp":["z","w"]})).unwrap();
        assert_eq!(c.scopes, ["z", "w"]);
        let c = read(json!({"aud":"a","exp":1,"scp":"z w"})).unwrap();
        assert_eq!(c.scopes, ["z", "w"]);
        assert_eq!(
            read(json!({"aud":"a","exp":1,"scope":["x"]})).err(),
            Some(TokenError::ClaimType("scope"))
        );
    }

    #[test]
    fn every_scope_is_a_scope_token() {
        let c = read(json!({"aud":"a","exp":1,"scope":"!#[]~ a:b/c"})).unwrap();
        assert_eq!(c.scopes, ["!#[]~", "a:b/c"]);
        for (bad, claim) in [
            (json!({"scope": "x\ty"}), "scope"),
            (json!({"scope": "x\\y"}), "scope"),
            (json!({"scope": "caf\u{e9}"}), "scope"),
            (json!({"scope": "x\u{7f}"}), "scope"),
            (json!({"scp": "x\ny"}), "scp"),
            (json!({"scp": ["x y"]}), "scp"),
            (json!({"scp": [""]}), "scp"),
        ] {
            let mut claims = json!({"aud":"a","exp":1});
            for (k, v) in bad.as_object().unwrap() {
                claims[k] = v.clone();
            }
            assert_eq!(
                read(claims).err(),
                Some(TokenError::NotScopes(claim)),
                "{bad}"
            );
        }
    }
}
