//! Approval tokens: decoding and verification of arbitrary text and of mutations of a valid
//! token.

use std::time::{Duration, Instant};

use autodb::domain::{Binding, ConnectionId, Sql};
use autodb::token::{issue, verify_signature, Approval, KeyRing};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use proptest::prelude::*;

/// A bound no verification comes near (a 32 KiB token is refused before it is decoded).
const BUDGET: Duration = Duration::from_millis(250);

/// Texts a random search rarely produces: empty parts, many dots, JSON that almost is a
/// payload, unicode, the largest accepted length and one byte over it.
const SEEDS: &[&str] = &[
    "",
    ".",
    "..",
    "a.b.c",
    "e30.",
    "e30.AA",
    "eyJ2IjoyfQ.AA",
    "eyJ2IjoyLCJraWQiOiJrMSJ9.AAAA",
    "=.=",
    "\u{0}.\u{0}",
    "é.ü",
];

fn ring() -> KeyRing {
    KeyRing::generate()
}

fn valid_token(ring: &KeyRing) -> String {
    let connection = ConnectionId::generate();
    let sql = Sql::parse("CREATE TABLE t (id int);".into()).unwrap();
    issue(
        ring,
        Approval {
            connection_id: &connection,
            sql: &sql,
            schema_fingerprint: "f".repeat(64),
            scope: Some(vec!["t".into()]),
            binding: Binding::default(),
            sandboxed: true,
            issued_at: 1_767_268_800,
            ttl_seconds: 3600,
            nonce: None,
        },
    )
    .0
}

/// `base64url(payload) "." base64url(signature)`.
fn encoded(payload: &[u8], signature: &[u8]) -> String {
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(payload),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

/// Verifies within the budget, without panicking; whether it verified.
fn verifies(ring: &KeyRing, token: &str) -> bool {
    let started = Instant::now();
    let verified = verify_signature(ring, token).is_ok();
    assert!(
        started.elapsed() < BUDGET,
        "{} bytes took {:?}",
        token.len(),
        started.elapsed()
    );
    verified
}

#[test]
fn seeds_are_refused() {
    let ring = ring();
    for seed in SEEDS {
        assert!(!verifies(&ring, seed), "{seed:?}");
    }
    let long = "A".repeat(32 * 1024 + 1);
    assert!(!verifies(&ring, &format!("{long}.{long}")));
    let valid = valid_token(&ring);
    assert!(verifies(&ring, &valid));
    assert!(
        !verifies(&KeyRing::generate(), &valid),
        "another ring's key"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(super::cases()))]

    #[test]
    fn arbitrary_text_never_verifies(text in ".{0,600}") {
        prop_assert!(!verifies(&ring(), &text));
    }

    #[test]
    fn arbitrary_base64_parts_never_verify(
        payload in proptest::collection::vec(any::<u8>(), 0..400),
        signature in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        prop_assert!(!verifies(&ring(), &encoded(&payload, &signature)));
    }

    /// Arbitrary JSON objects in the payload (the decoder's input after base64), signed or
    /// not: never a panic.
    #[test]
    fn arbitrary_json_payloads_never_verify(
        fields in proptest::collection::btree_map(
            prop_oneof![
                Just("v".to_string()), Just("kid".to_string()), Just("conn_id".to_string()),
                Just("sql_sha256".to_string()), Just("nonce".to_string()),
                Just("exp".to_string()), Just("iat".to_string()), Just("binding".to_string()),
                "[a-z_]{1,8}",
            ],
            prop_oneof![
                Just(serde_json::json!(null)),
                any::<i64>().prop_map(serde_json::Value::from),
                any::<bool>().prop_map(serde_json::Value::from),
                ".{0,40}".prop_map(serde_json::Value::from),
                Just(serde_json::json!({"search_path": [], "effects": {}})),
                Just(serde_json::json!([1, [2, [3]]])),
            ],
            0..10,
        ),
        signature in proptest::collection::vec(any::<u8>(), 32..=32),
    ) {
        let payload = serde_json::to_vec(&fields).unwrap();
        prop_assert!(!verifies(&ring(), &encoded(&payload, &signature)));
    }

    /// Any change to a valid token — a byte replaced, removed or inserted anywhere, the
    /// parts swapped, a suffix — makes it invalid.
    #[test]
    fn every_mutation_of_a_valid_token_is_refused(
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        kind in 0u8..5,
    ) {
        let ring = ring();
        let token = valid_token(&ring);
        let mut bytes = token.clone().into_bytes();
        let i = at.index(bytes.len());
        match kind {
            0 => bytes[i] = byte,
            1 => { bytes.remove(i); }
            2 => bytes.insert(i, byte),
            3 => {
                let (a, b) = token.split_once('.').unwrap();
                bytes = format!("{b}.{a}").into_bytes();
            }
            _ => bytes.push(byte),
        }
        let mutated = String::from_utf8_lossy(&bytes).into_owned();
        prop_assume!(mutated != token);
        prop_assert!(!verifies(&ring, &mutated), "{mutated}");
    }
}
