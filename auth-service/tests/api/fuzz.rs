//! Property tests: arbitrary bytes and arbitrary JSON to every endpoint that reads a body never cause
//! a panic or a 5xx, and always answer in the endpoint's envelope.

use std::sync::Arc;

use auth_service::app::App;
use auth_service::config::AuthConfig;
use proptest::prelude::*;
use serde_json::{json, Value};
use shared::config::FromVars;
use shared::ManualClock;
use warp::filters::BoxedFilter;
use warp::reply::Response;

use crate::helpers::{ADMIN_PASSWORD, SECRET};

const ENDPOINTS: [(&str, &[&str]); 6] = [
    ("/auth/login", &["username", "password"]),
    ("/auth/refresh", &["refreshToken"]),
    ("/auth/introspect", &["token"]),
    ("/auth/mfa/verify", &["mfaToken", "code"]),
    ("/auth/mfa/activate", &["code"]),
    (
        "/v2/auth/gettoken",
        &["username", "password", "virtual_operator", "otp"],
    ),
];

/// Built once: every case goes to the same app (the embedded store needs no runtime to build).
fn routes() -> BoxedFilter<(Response,)> {
    static ROUTES: std::sync::OnceLock<BoxedFilter<(Response,)>> = std::sync::OnceLock::new();
    ROUTES.get_or_init(build_routes).clone()
}

fn build_routes() -> BoxedFilter<(Response,)> {
    let config = AuthConfig::from_pairs([
        ("JWT_SECRET", SECRET),
        ("API_PASSWORD", ADMIN_PASSWORD),
        ("RATE_LIMIT_IP_PER_MINUTE", "1000000"),
        ("RATE_LIMIT_LOGIN_MAX_FAILURES", "1000000"),
    ])
    .unwrap();
    auth_service::routes::router(&App::build(config, Arc::new(ManualClock::starting_now())).unwrap())
        .as_filter()
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
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(".{0,10}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An object with the endpoint's own field names and arbitrary values: reaches past the shape checks.
fn shaped(fields: &'static [&'static str]) -> impl Strategy<Value = Value> {
    prop::collection::vec(
        prop_oneof![json_value(), ".{0,140}".prop_map(Value::String)],
        fields.len(),
    )
    .prop_map(move |values| Value::Object(fields.iter().map(|f| f.to_string()).zip(values).collect()))
}

fn check(
    runtime: &tokio::runtime::Runtime,
    filter: &BoxedFilter<(Response,)>,
    path: &str,
    body: Vec<u8>,
) -> Result<(), TestCaseError> {
    let res = runtime.block_on(
        warp::test::request()
            .method("POST")
            .path(path)
            .header("content-type", "application/json")
            .body(body)
            .reply(filter),
    );
    let status = res.status().as_u16();
    prop_assert!(status < 500, "{path} answered {status}");
    let parsed: Result<Value, _> = serde_json::from_slice(res.body());
    prop_assert!(
        parsed.is_ok(),
        "{path}: not JSON: {:?}",
        String::from_utf8_lossy(res.body())
    );
    let body = parsed.unwrap_or_default();
    if path.starts_with("/v2/") {
        prop_assert!(
            body["IsValid"].is_boolean() && body["ResultCode"] == json!(status),
            "{path}: {body}"
        );
    } else if status >= 400 {
        prop_assert!(
            body["exito"] == json!(false) && body["codigo"].is_string() && body["detalle"].is_string(),
            "{path}: {body}"
        );
    } else {
        prop_assert!(body["exito"] == json!(true), "{path}: {body}");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn arbitrary_bytes_to_every_endpoint_get_the_envelope(index in 0..ENDPOINTS.len(), body in prop::collection::vec(any::<u8>(), 0..512)) {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        check(&runtime, &routes(), ENDPOINTS[index].0, body)?;
    }

    #[test]
    fn arbitrary_json_to_every_endpoint_gets_the_envelope(index in 0..ENDPOINTS.len(), body in json_value()) {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        check(&runtime, &routes(), ENDPOINTS[index].0, serde_json::to_vec(&body).unwrap())?;
    }

    #[test]
    fn arbitrary_values_in_the_right_fields_get_the_envelope(
        (index, body) in (0..ENDPOINTS.len()).prop_flat_map(|i| (Just(i), shaped(ENDPOINTS[i].1)))
    ) {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        check(&runtime, &routes(), ENDPOINTS[index].0, serde_json::to_vec(&body).unwrap())?;
    }
}
