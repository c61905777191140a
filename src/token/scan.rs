//! A JSON object read once, as `unique_object` reads it, keeping only the
//! members asked for. Every other member is still read: its numbers parsed,
//! its objects checked for repeated names at any depth. It is just not
//! built. A token's header and payload are read this way on every cache
//! miss, where building a map of every member, only to look up a dozen
//! and free the rest, cost more than any other step but the signature.

use std::borrow::Cow;
use std::cell::Cell;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::json::{Names, ObjectError, Unique, folded, unique_object};

/// The members of the JSON object in `bytes` named in `wanted` (in lower
/// case), in that order. Accepts and refuses what `unique_object` does,
/// and also refuses a member of the top object whose name `folded` reads
/// as a wanted one but that is spelt otherwise (`SUB` for `sub`): the
/// reader here would not see it, while a workload's parser would read it
/// as that member. A kept member is the value `unique_object` would hold
/// under that name.
pub fn scan_object<const N: usize>(
    bytes: &[u8],
    wanted: &[&str; N],
) -> Result<[Option<Value>; N], ObjectError> {
    let aliased = Cell::new(false);
    let mut reader = serde_json::Deserializer::from_slice(bytes);
    let scanned = Scan {
        wanted,
        aliased: &aliased,
    }
    .deserialize(&mut reader)
    .and_then(|kept| reader.end().map(|()| kept));
    scanned.map_err(|_| match unique_object(bytes) {
        // Told apart by reading again, only on this failure path.
        Err(e) => e,
        Ok(_) if aliased.get() => ObjectError::AliasedMember,
        Ok(_) => ObjectError::NotAnObject,
    })
}

struct Scan<'w, const N: usize> {
    wanted: &'w [&'w str; N],
    aliased: &'w Cell<bool>,
}

impl<'de, const N: usize> DeserializeSeed<'de> for Scan<'_, N> {
    type Value = [Option<Value>; N];

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, const N: usize> Visitor<'de> for Scan<'_, N> {
    type Value = [Option<Value>; N];

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut kept = std::array::from_fn(|_| None);
        let mut names = Names::default();
        while let Some(Name(name)) = map.next_key()? {
            let slot = self.wanted.iter().position(|w| *w == name);
            if slot.is_none() && self.wanted.contains(&&*folded(Cow::Borrowed(&name))) {
                self.aliased.set(true);
                return Err(de::Error::custom("a wanted member spelt another way"));
            }
            names.insert(name)?;
            match slot {
                Some(i) => kept[i] = Some(map.next_value::<Unique>()?.0),
                None => {
                    map.next_value::<Checked>()?;
                }
            }
        }
        Ok(kept)
    }
}

/// A member name, borrowed from the input unless it holds an escape.
struct Name<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct NameVisitor;
        impl<'de> Visitor<'de> for NameVisitor {
            type Value = Name<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(NameVisitor)
    }
}

/// A value read and checked as `Unique` checks it, but not kept.
struct Checked;

impl<'de> de::Deserialize<'de> for Checked {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CheckedVisitor).map(|()| Checked)
    }
}

struct CheckedVisitor;

impl<'de> Visitor<'de> for CheckedVisitor {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        if v.is_finite() {
            Ok(())
        } else {
            Err(E::custom("not a finite number"))
        }
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<Checked>()?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut names = Names::default();
        while let Some(Name(name)) = map.next_key()? {
            names.insert(name)?;
            map.next_value::<Checked>()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
