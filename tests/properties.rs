//! Properties of the decision pipeline over generated input.

// Tests and their fixtures may panic on broken set-up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::app::check_request;
use common::{KeyServer, TestApp, standard_config};
use envoy_types::pb::envoy::service::auth::v3::check_response::HttpResponse;
use proptest::prelude::*;
use serde_json::json;

struct Fixture {
    rt: tokio::runtime::Runtime,
    app: TestApp,
    token: String,
    _keys: (KeyServer, KeyServer),
}

fn fixture() -> Fixture {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (ks, other, app, token) = rt.block_on(async {
        let ks = KeyServer::start("primary").await;
        let other = KeyServer::start("other").await;
        let app = TestApp::start(&standard_config(&ks, &other)).await;
        let token = ks.token(json!({"sid": "s", "role": "admin"}));
        (ks, other, app, token)
    });
    Fixture {
        rt,
        app,
        token,
        _keys: (ks, other),
    }
}

impl Fixture {
    fn allowed(&self, authorization: &str) -> bool {
        let mut req = check_request("/orders", None);
        let http = common::app::http_mut(&mut req);
        http.headers
            .insert("authorization".into(), authorization.into());
        let resp = self.rt.block_on(self.app.check(&req));
        assert!(resp.status.is_some(), "status must always be set");
        matches!(resp.http_response, Some(HttpResponse::OkResponse(_)))
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// A valid token with any one byte changed is never allowed.
    #[test]
    fn one_changed_byte_is_never_allowed(position in any::<prop::sample::Index>(), byte in any::<u8>()) {
        thread_local!(static F: Fixture = fixture());
        F.with(|f| {
            assert!(f.allowed(&format!("Bearer {}", f.token)), "the unchanged token is allowed");
            let mut bytes = f.token.clone().into_bytes();
            let i = position.index(bytes.len());
            prop_assume!(bytes[i] != byte);
            bytes[i] = byte;
            let changed = format!("Bearer {}", String::from_utf8_lossy(&bytes));
            prop_assert!(!f.allowed(&changed), "allowed with byte {} set to {:#04x}", i, byte);
            Ok(())
        })?;
    }

    /// Whatever the Authorization header holds, no panic and no allow.
    #[test]
    fn arbitrary_authorization_is_never_allowed(value in "\\PC{0,600}") {
        thread_local!(static F: Fixture = fixture());
        F.with(|f| {
            let bearer = format!("Bearer {}", value);
            prop_assert!(!f.allowed(&value));
            prop_assert!(!f.allowed(&bearer));
            Ok(())
        })?;
    }
}
