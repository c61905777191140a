use super::events::EventKind;

#[test]
fn event_uris_are_matched_exactly() {
    let caep = "https://schemas.openid.net/secevent/caep/event-type/";
    let risc = "https://schemas.openid.net/secevent/risc/event-type/";
    assert_eq!(
        EventKind::label_of(&format!("{caep}session-revoked")),
        "session-revoked"
    );
    assert_eq!(
        EventKind::label_of(&format!("{risc}sessions-revoked")),
        "sessions-revoked"
    );
    assert_eq!(
        EventKind::label_of(&format!("{risc}account-purged")),
        "account-purged"
    );
    // CAEP names under the RISC prefix, other spellings, prefixes alone: not acted on.
    assert_eq!(
        EventKind::label_of(&format!("{risc}session-revoked")),
        "other"
    );
    assert_eq!(
        EventKind::label_of(&format!("{caep}Session-Revoked")),
        "other"
    );
    assert_eq!(EventKind::label_of(caep), "other");
    assert_eq!(
        EventKind::label_of("http://schemas.openid.net/secevent/caep/event-type/session-revoked"),
        "other"
    );
}
