use std::sync::Arc;

use proptest::prelude::*;

use crate::policy::{PathMatch, Policy, PolicySet, RouteMatch};
use crate::token::TokenLimits;

fn policy(i: usize, hosts: Vec<String>, path: PathMatch, methods: Vec<String>) -> Policy {
    Policy {
        name: Arc::from(format!("p{i}").as_str()),
        tier: None,
        route: RouteMatch::new(hosts, path, methods).unwrap(),
        anonymous: true,
        principals: Vec::new(),
        scopes: Vec::new(),
        claims: Vec::new(),
        min_acr: None,
        max_auth_age: None,
        token_limits: TokenLimits::default(),
        remove_authorization: false,
        rego: None,
        sender_constraint: None,
    }
}

/// Hosts, paths and methods from small alphabets, so that routes overlap.
fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a.example".to_string()),
        Just("b.example".to_string()),
        Just("*.example".to_string()),
        Just("a.*".to_string()),
        Just("A.Example.".to_string()),
    ]
}

fn path_match() -> impl Strategy<Value = PathMatch> {
    let segment = prop_oneof![
        Just("/o"),
        Just("/or"),
        Just("/orders"),
        Just("/orders/"),
        Just("/x"),
        Just("/")
    ];
    prop_oneof![
        Just(PathMatch::Any),
        segment
            .clone()
            .prop_map(|s| PathMatch::Exact(s.to_string())),
        segment.prop_map(|s| PathMatch::Prefix(s.to_string())),
        Just(PathMatch::regex("/orders/[0-9]+").unwrap()),
        Just(PathMatch::regex("/x.*").unwrap()),
    ]
}

fn route() -> impl Strategy<Value = (Vec<String>, PathMatch, Vec<String>)> {
    (
        prop::collection::vec(host(), 0..3),
        path_match(),
        prop::collection::vec(
            prop_oneof![Just("GET".to_string()), Just("POST".to_string())],
            0..2,
        ),
    )
}

fn request() -> impl Strategy<Value = (String, String, String)> {
    (
        prop_oneof![
            Just("a.example"),
            Just("B.example:443"),
            Just("c.example"),
            Just("a.other"),
            Just("")
        ],
        prop_oneof![
            Just("/"),
            Just("/o"),
            Just("/orders"),
            Just("/orders/7"),
            Just("/ordersX"),
            Just("/x/y"),
            Just("/z"),
            Just("")
        ],
        prop_oneof![Just("GET"), Just("POST"), Just("get")],
    )
        .prop_map(|(h, p, m)| (h.to_string(), p.to_string(), m.to_string()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whatever the policies, the index chooses what a scan in order chooses.
    #[test]
    fn the_index_agrees_with_a_scan(
        routes in prop::collection::vec(route(), 9..40),
        requests in prop::collection::vec(request(), 1..20),
    ) {
        let policies: Vec<Policy> = routes
            .into_iter()
            .enumerate()
            .map(|(i, (h, p, m))| policy(i, h, p, m))
            .collect();
        let set = PolicySet::new(policies);
        for (host, path, method) in requests {
            let indexed = set.select(&host, &path, &method).map(|p| p.name.clone());
            let normalized = crate::policy::normalize_host(&host);
            let scanned = set.scan(&normalized, &path, &method).map(|p| p.name.clone());
            prop_assert_eq!(indexed, scanned, "{} {} {}", host, path, method);
        }
    }
}

#[test]
fn five_hundred_prefixes_are_looked_up_not_scanned() {
    let policies: Vec<Policy> = (0..500)
        .map(|i| {
            policy(
                i,
                Vec::new(),
                PathMatch::Prefix(format!("/svc{i}/")),
                vec!["GET".into()],
            )
        })
        .collect();
    let set = PolicySet::new(policies);
    assert_eq!(set.index.candidates("api.local", "/svc499/x"), vec![499]);
    assert_eq!(
        set.select("api.local", "/svc499/x", "GET")
            .map(|p| &*p.name),
        Some("p499")
    );
    assert_eq!(
        set.select("api.local", "/svc4/x", "GET").map(|p| &*p.name),
        Some("p4")
    );
    assert!(set.select("api.local", "/svc500/x", "GET").is_none());
}
