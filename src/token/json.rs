//! JSON objects as tokens and proofs carry them, read with every member
//! name at most once, at any depth. RFC 7519 lets a parser keep the last
//! of two `sub` members; a workload reading the forwarded token with a
//! parser that keeps the first would then see other claims than the ones
//! decided on, so a repeated name is refused instead, and so are two names
//! a workload's parser could take for one (see `folded`).

use std::borrow::Cow;
use std::collections::HashSet;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Why bytes are not a JSON object with unique member names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectError {
    /// Not JSON, or JSON but not an object.
    NotAnObject,
    /// An object in it (the top one or one inside) names a member twice.
    DuplicateMember,
    /// The object names, in another spelling that `folded` reads alike
    /// (`SUB`, `ſub`, `sub\0`), a member its reader interprets.
    AliasedMember,
}

/// The JSON object in `bytes`, refused if any object in it names a member
/// twice.
pub fn unique_object(bytes: &[u8]) -> Result<Map<String, Value>, ObjectError> {
    match serde_json::from_slice::<Unique>(bytes) {
        Ok(Unique(Value::Object(members))) => Ok(members),
        Ok(_) => Err(ObjectError::NotAnObject),
        // Told apart by reading again, only on this failure path.
        Err(_) => match serde_json::from_slice::<Map<String, Value>>(bytes) {
            Ok(_) => Err(ObjectError::DuplicateMember),
            Err(_) => Err(ObjectError::NotAnObject),
        },
    }
}

/// A member name as some parser a workload may use could read it: up to
/// its first NUL (parsers built on C strings stop there), and case-folded
/// as Go's `encoding/json` folds names to match them to struct fields
/// (each character upper-cased from its lower case), here in lower case.
/// Names that fold alike count as one: `sub`, `SUB`, `ſub` and `sub\0x`
/// would all fill a Go struct's `Sub`, the last one winning.
pub(super) fn folded(name: Cow<'_, str>) -> Cow<'_, str> {
    if !name
        .bytes()
        .any(|b| b == 0 || b.is_ascii_uppercase() || !b.is_ascii())
    {
        return name;
    }
    let cut = name.split('\0').next().unwrap_or_default();
    Cow::Owned(
        cut.chars()
            .flat_map(char::to_lowercase)
            .flat_map(char::to_uppercase)
            .flat_map(char::to_lowercase)
            .collect(),
    )
}

/// Whether `object` has a member that `folded` reads as one of `read` but
/// that is spelt otherwise (`HTM` for `htm`): a parser a workload may use
/// reads it as that member, and a reader asking for `read` would not.
pub fn names_one_another_way(object: &Map<String, Value>, read: &[&str]) -> bool {
    object
        .keys()
        .any(|k| !read.contains(&k.as_str()) && read.contains(&&*folded(Cow::Borrowed(k))))
}

/// Whether a JWS header asks for more than a plain signature over the
/// encoded payload: `enc` (a JWE), `crit` (extensions), or `b64` other than
/// `true` (RFC 7797's unencoded payload), present in any form.
pub fn asks_more_than_plain_jws(header: &Map<String, Value>) -> bool {
    header.contains_key("enc")
        || header.contains_key("crit")
        || header.get("b64").is_some_and(|b| *b != Value::Bool(true))
}

/// The names of one object so far, as `folded` compares them. The first few are kept on the stack
/// and compared one by one; an object stuffed with members gets a hash
/// set, so that checking stays linear in their number.
pub(super) struct Names<'de> {
    few: [Cow<'de, str>; FEW],
    count: usize,
    many: HashSet<Cow<'de, str>>,
}

const FEW: usize = 16;

impl Default for Names<'_> {
    fn default() -> Self {
        Self {
            few: std::array::from_fn(|_| Cow::Borrowed("")),
            count: 0,
            many: HashSet::new(),
        }
    }
}

impl<'de> Names<'de> {
    pub fn insert<E: de::Error>(&mut self, name: Cow<'de, str>) -> Result<(), E> {
        let name = folded(name);
        let repeated = if self.count < FEW {
            let seen = self.few[..self.count].contains(&name);
            self.few[self.count] = name;
            self.count += 1;
            seen
        } else {
            if self.many.is_empty() {
                self.many.extend(self.few.iter_mut().map(std::mem::take));
            }
            !self.many.insert(name)
        };
        if repeated {
            return Err(E::custom("a member name appears twice"));
        }
        Ok(())
    }
}

/// A JSON value whose objects each name a member once.
pub(super) struct Unique(pub Value);

impl<'de> Deserialize<'de> for Unique {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UniqueVisitor).map(Unique)
    }
}

struct UniqueVisitor;

impl<'de> Visitor<'de> for UniqueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("not a finite number"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(Unique(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut members = Map::new();
        let mut names = Names::default();
        while let Some(name) = map.next_key::<String>()? {
            names.insert(Cow::Owned(name.clone()))?;
            let Unique(value) = map.next_value()?;
            members.insert(name, value);
        }
        Ok(Value::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_named_twice_is_refused_at_any_depth() {
        let ok = unique_object(
            br#"{"sub":"a","cnf":{"jkt":"x"},"l":[{"a":1},{"a":2}],"n":1.5,"z":null}"#,
        );
        assert_eq!(ok.unwrap()["cnf"]["jkt"], "x");
        for twice in [
            &br#"{"sub":"alice","sub":"bob"}"#[..],
            br#"{"exp":1,"exp":9999999999}"#,
            br#"{"cnf":{"jkt":"a","jkt":"b"}}"#,
            br#"{"l":[{"a":1,"a":2}]}"#,
            // The same name, spelt with an escape.
            br#"{"sub":"a","s\u0075b":"b"}"#,
            // Names a workload's parser could take for one.
            br#"{"sub":"alice","SUB":"mallory"}"#,
            br#"{"role":"admin","Role":"user"}"#,
            br#"{"sub":"alice","sub\u0000":"bob"}"#,
            br#"{"sub":"alice","\u017fub":"bob"}"#,
            br#"{"kid":"a","\u212aid":"b"}"#,
            br#"{"cnf":{"jkt":"a","JKT":"b"}}"#,
        ] {
            assert_eq!(
                unique_object(twice),
                Err(ObjectError::DuplicateMember),
                "{}",
                String::from_utf8_lossy(twice)
            );
        }
        // Names that differ after folding are still two names.
        assert!(unique_object(br#"{"sub":"a","subs":"b","s":"c","\u00e9":1,"e":2}"#).is_ok());
        for bad in [&b"[1]"[..], b"\"a\"", b"{", b"", b"{\"a\":1e999}"] {
            assert_eq!(
                unique_object(bad),
                Err(ObjectError::NotAnObject),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
