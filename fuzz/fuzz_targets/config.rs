//! Config files: either a config or a list of errors, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match zt_authz::config::Config::from_yaml(text, std::path::Path::new("/nonexistent")) {
        Ok(c) => {
            let _ = c.summary();
        }
        Err(errors) => assert!(!errors.0.is_empty()),
    }
});
