//! Property tests: token verification never panics, whatever the bytes or claims, and accepts only
//! well-formed tokens of the asked-for kind.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey};
use proptest::prelude::*;
use serde_json::{json, Value};
use shared::{AccessClaims, ManualClock, MfaClaims, RefreshClaims, TokenCodec, TokenKind};

const SECRET: &str = "property-test-secret-0123456789abcdef";

fn codec() -> TokenCodec {
    TokenCodec::new(
        &shared::token::test_settings(SECRET),
        Arc::new(ManualClock::new(1_800_000_000_000)),
    )
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Claims whose keys are the real ones, with arbitrary values, so verification gets past the shape.
fn claims_like() -> impl Strategy<Value = Value> {
    let keys = [
        "sub", "jti", "sid", "iat", "nbf", "exp", "iss", "aud", "typ", "username", "email", "rol",
    ];
    prop::collection::vec(json_value(), keys.len())
        .prop_map(move |values| Value::Object(keys.iter().map(|k| k.to_string()).zip(values).collect()))
}

fn sign(header: &Value, claims: &Value) -> String {
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(header).unwrap()),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap())
    );
    let sig = jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &EncodingKey::from_secret(SECRET.as_bytes()),
        Algorithm::HS256,
    )
    .unwrap();
    format!("{message}.{sig}")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_strings_are_refused_without_panicking(token in ".{0,300}") {
        let c = codec();
        prop_assert!(c.verify::<AccessClaims>(&token).is_err());
        prop_assert!(c.verify::<RefreshClaims>(&token).is_err());
        prop_assert!(c.verify::<MfaClaims>(&token).is_err());
    }

    #[test]
    fn arbitrary_bytes_in_the_three_segments_are_refused(a in prop::collection::vec(any::<u8>(), 0..64),
                                                        b in prop::collection::vec(any::<u8>(), 0..256),
                                                        s in prop::collection::vec(any::<u8>(), 0..64)) {
        let token = format!("{}.{}.{}", URL_SAFE_NO_PAD.encode(a), URL_SAFE_NO_PAD.encode(b), URL_SAFE_NO_PAD.encode(s));
        prop_assert!(codec().verify::<AccessClaims>(&token).is_err());
    }

    #[test]
    fn correctly_signed_arbitrary_claims_never_panic_and_pass_only_when_well_formed(claims in claims_like(), header in json_value()) {
        let c = codec();
        let kid = shared::token::kid_for(SECRET.as_bytes());
        for h in [json!({"alg": "HS256", "kid": kid}), header] {
            let token = sign(&h, &claims);
            if let Ok(ok) = c.verify::<AccessClaims>(&token) {
                prop_assert_eq!(ok.typ, TokenKind::Access);
                prop_assert_eq!(ok.iss.as_str(), "auth-service");
                prop_assert!(ok.exp > 1_800_000_000 - 5);
            }
        }
    }
}
