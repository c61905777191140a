use proptest::prelude::*;
use serde_json::Value;

use super::*;
use crate::token::json::folded;

/// Names that collide: the same name spelt with an escape, the registered
/// ones, and a few others.
const NAMES: &[&str] = &[
    "sub",
    r"s\u0075b",
    "aud",
    "exp",
    "alg",
    "kid",
    "x",
    "y",
    "",
    r#"\""#,
    "é",
];

/// JSON text, not values, so that a name can appear twice in one object
/// and numbers can be out of range, as an attacker writes them.
fn json_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_string()),
        Just("true".to_string()),
        Just("1e999".to_string()),
        Just("-0.5e-3".to_string()),
        Just("18446744073709551616".to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        "[a-z\\\\\"]{0,4}".prop_map(|s| format!("\"{s}\"")),
        Just("\"\\ud800\"".to_string()),
        Just("tru".to_string()),
    ];
    leaf.prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec((prop::sample::select(NAMES), inner), 0..7).prop_map(|m| {
                let members: Vec<String> = m.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                format!("{{{}}}", members.join(","))
            }),
        ]
    })
}

const WANTED: [&str; 4] = ["sub", "aud", "missing", "x"];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn a_scan_reads_what_unique_object_reads(text in json_text(), tail in prop_oneof![Just(""), Just(" "), Just("x"), Just("{}")]) {
        let bytes = format!("{text}{tail}").into_bytes();
        let scanned = scan_object(&bytes, &WANTED);
        match unique_object(&bytes) {
            // A top-level name spelling a wanted one another way.
            Ok(all) if all.keys().any(|k| {
                !WANTED.contains(&k.as_str())
                    && WANTED.contains(&&*folded(std::borrow::Cow::Borrowed(k.as_str())))
            }) => prop_assert_eq!(scanned.err(), Some(ObjectError::AliasedMember), "{}", text),
            Ok(all) => {
                let kept = scanned.unwrap_or_else(|e| panic!("{e:?} for {text}"));
                for (name, value) in WANTED.iter().zip(kept) {
                    prop_assert_eq!(value.as_ref(), all.get(*name), "{} in {}", name, text);
                }
            }
            Err(e) => prop_assert_eq!(scanned.err(), Some(e), "{}", text),
        }
    }
}

#[test]
fn a_name_twice_is_refused_whatever_the_spelling_and_the_depth() {
    for twice in [
        &br#"{"sub":"a","s\u0075b":"b"}"#[..],
        br#"{"x":{"a":1,"b":[{"c":1,"c":2}]}}"#,
        br#"{"aud":"a","aud":"b"}"#,
    ] {
        assert_eq!(
            scan_object(twice, &WANTED).err(),
            Some(ObjectError::DuplicateMember),
            "{}",
            String::from_utf8_lossy(twice)
        );
    }
}

#[test]
fn a_wanted_name_spelt_another_way_is_refused_alone() {
    for aliased in [
        &br#"{"SUB":"mallory"}"#[..],
        br#"{"\u017fub":"mallory"}"#,
        br#"{"sub\u0000":"mallory"}"#,
        br#"{"Aud":"x","x":1}"#,
    ] {
        assert_eq!(
            scan_object(aliased, &WANTED).err(),
            Some(ObjectError::AliasedMember),
            "{}",
            String::from_utf8_lossy(aliased)
        );
    }
    // Only at the top: a nested object is not the one read here.
    assert!(scan_object(br#"{"x":{"SUB":1}}"#, &WANTED).is_ok());
}

#[test]
fn many_names_are_still_checked() {
    let mut members: Vec<String> = (0..2000).map(|i| format!("\"m{i}\":{i}")).collect();
    let unique = format!("{{{}}}", members.join(","));
    assert!(scan_object(unique.as_bytes(), &WANTED).is_ok());
    members.push("\"m7\":0".to_string());
    let twice = format!("{{{}}}", members.join(","));
    assert_eq!(
        scan_object(twice.as_bytes(), &WANTED).err(),
        Some(ObjectError::DuplicateMember)
    );
    // The repeat is the 17th name, the first compared in the hash set.
    let mut few: Vec<String> = (0..16).map(|i| format!("\"m{i}\":{i}")).collect();
    few.push("\"m0\":0".to_string());
    let twice = format!("{{{}}}", few.join(","));
    assert_eq!(
        scan_object(twice.as_bytes(), &WANTED).err(),
        Some(ObjectError::DuplicateMember)
    );
}

#[test]
fn only_the_wanted_members_are_kept() {
    let kept = scan_object(br#"{"x":[1,{"y":null}],"sub":"alice","other":1}"#, &WANTED).unwrap();
    assert_eq!(
        kept,
        [
            Some(Value::from("alice")),
            None,
            None,
            Some(serde_json::json!([1, {"y": null}]))
        ]
    );
}
