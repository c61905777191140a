//! JWKS documents: a key set or an error, never a panic; a parsed set
//! never holds more keys than the limit.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    zt_authz::install_crypto_provider();
    if let Ok(set) = zt_authz::keys::KeySet::parse(data) {
        assert!(set.len() <= zt_authz::keys::MAX_KEYS);
        assert!(!set.is_empty());
    }
});
