//! Verification refuses every kind of bad token with the right codigo.

use jsonwebtoken::Algorithm;
use serde_json::{json, Value};

use crate::helpers::*;

async fn me_codigo(app: &TestApp, token: &str) -> String {
    let (status, body) = app.get_me(token).await;
    assert_eq!(status, 401, "{body}");
    codigo(&body).to_string()
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

fn without(mut claims: Value, key: &str) -> Value {
    claims.as_object_mut().unwrap().remove(key);
    claims
}

#[tokio::test]
async fn a_well_forged_token_with_the_real_secret_is_accepted_as_a_control() {
    // The forging helpers make tokens the service accepts, so each refusal below is about one change.
    let app = TestApp::spawn_with(StoreKind::Memory, &[]).await;
    let (access, _) = app.login_tokens().await;
    let claims = claims_of(&access);
    let token = forge(&hs256_header(SECRET), &claims, SECRET, Algorithm::HS256);
    assert_eq!(app.get_me(&token).await.0, 200);
}

#[tokio::test]
async fn an_expired_token_gets_token_expired_with_the_seeds_detalle() {
    let app = TestApp::spawn_with(StoreKind::Memory, &[]).await;
    let now = app.clock.now_secs();
    let claims = with(
        with(access_claims(now), "exp", json!(now - 60)),
        "iat",
        json!(now - 3700),
    );
    let token = forge(&hs256_header(SECRET), &claims, SECRET, Algorithm::HS256);
    let (status, body) = app.get_me(&token).await;
    assert_eq!((status, codigo(&body)), (401, "TOKEN_EXPIRED"));
    assert_eq!(body["mensaje"], "Token expirado");
    assert_eq!(
        body["detalle"],
        "El token de acceso ha expirado. Use el refresh token para obtener uno nuevo."
    );
}

#[tokio::test]
async fn a_real_token_expires_by_the_clock_with_only_a_few_seconds_of_leeway() {
    let app = TestApp::spawn_with(StoreKind::Memory, &[]).await;
    let (access, _) = app.login_tokens().await;
    app.clock.advance_secs(3600 + 3);
    assert_eq!(app.get_me(&access).await.0, 200, "within the leeway");
    app.clock.advance_secs(10);
    assert_eq!(me_codigo(&app, &access).await, "TOKEN_EXPIRED");
}

#[tokio::test]
async fn each_kind_of_bad_token_is_refused_as_invalid() {
    let app = TestApp::spawn_with(StoreKind::Memory, &[]).await;
    let now = app.clock.now_secs();
    let good = access_claims(now);
    let header = hs256_header(SECRET);
    let hs = |h: &Value, c: &Value| forge(h, c, SECRET, Algorithm::HS256);

    let mut cases: Vec<(&str, String)> = vec![
        (
            "nbf in the future",
            hs(&header, &with(good.clone(), "nbf", json!(now + 120))),
        ),
        (
            "wrong key",
            forge(
                &hs256_header(SECRET),
                &good,
                "another-secret-that-is-long-enough-000",
                Algorithm::HS256,
            ),
        ),
        (
            "wrong issuer",
            hs(&header, &with(good.clone(), "iss", json!("someone-else"))),
        ),
        (
            "wrong audience",
            hs(&header, &with(good.clone(), "aud", json!("other-api"))),
        ),
        (
            "refresh typ",
            hs(&header, &with(good.clone(), "typ", json!("refresh"))),
        ),
        ("mfa typ", hs(&header, &with(good.clone(), "typ", json!("mfa")))),
        ("no typ", hs(&header, &without(good.clone(), "typ"))),
        ("no exp", hs(&header, &without(good.clone(), "exp"))),
        ("no nbf", hs(&header, &without(good.clone(), "nbf"))),
        ("no iss", hs(&header, &without(good.clone(), "iss"))),
        ("no aud", hs(&header, &without(good.clone(), "aud"))),
        ("no sub", hs(&header, &without(good.clone(), "sub"))),
        (
            "exp as a string",
            hs(
                &header,
                &with(good.clone(), "exp", json!((now + 600).to_string())),
            ),
        ),
        (
            "sub as a number",
            hs(&header, &with(good.clone(), "sub", json!(1))),
        ),
        (
            "rol unknown",
            hs(&header, &with(good.clone(), "rol", json!("root"))),
        ),
        (
            "iat as a bool",
            hs(&header, &with(good.clone(), "iat", json!(true))),
        ),
        (
            "jku header",
            hs(
                &json!({"alg": "HS256", "kid": kid(SECRET), "jku": "http://evil/jwks"}),
                &good,
            ),
        ),
        (
            "x5u header",
            hs(
                &json!({"alg": "HS256", "kid": kid(SECRET), "x5u": "http://evil/cert"}),
                &good,
            ),
        ),
        (
            "jwk header",
            hs(
                &json!({"alg": "HS256", "kid": kid(SECRET), "jwk": {"kty": "oct", "k": "c2VjcmV0"}}),
                &good,
            ),
        ),
        (
            "unknown kid",
            hs(&json!({"alg": "HS256", "kid": "0011223344556677"}), &good),
        ),
        ("no kid", hs(&json!({"alg": "HS256"}), &good)),
        (
            "HS512 when HS256 is set",
            forge(
                &json!({"alg": "HS512", "kid": kid(SECRET)}),
                &good,
                SECRET,
                Algorithm::HS512,
            ),
        ),
        ("garbage", "not.a.token".to_string()),
        ("two parts", format!("{}.{}", b64(&header), b64(&good))),
    ];
    for alg in ["none", "None", "NONE", "nOnE"] {
        let h = json!({"alg": alg, "typ": "JWT", "kid": kid(SECRET)});
        cases.push(("alg none", format!("{}.{}.", b64(&h), b64(&good))));
    }
    // Tampered: a valid token with its payload swapped for an admin's claims.
    let (maria_access, _) = app.login_tokens_as(MARIA, MARIA_PASSWORD).await;
    let mut parts: Vec<String> = maria_access.split('.').map(str::to_string).collect();
    let mut claims = claims_of(&maria_access);
    claims["rol"] = json!("admin");
    parts[1] = b64(&claims);
    cases.push(("tampered", parts.join(".")));

    for (name, token) in cases {
        let (status, body) = app.get_me(&token).await;
        assert_eq!((status, codigo(&body)), (401, "TOKEN_INVALID"), "{name}: {body}");
    }
}

#[tokio::test]
async fn a_refresh_token_is_not_an_access_token() {
    let app = TestApp::spawn().await;
    let (_, refresh) = app.login_tokens().await;
    assert_eq!(me_codigo(&app, &refresh).await, "TOKEN_INVALID");
    assert_eq!(app.post_bearer("/auth/logout", &refresh).await.0, 401);
}

#[tokio::test]
async fn issued_tokens_carry_kid_and_every_contract_claim() {
    let app = TestApp::spawn_with(StoreKind::Memory, &[]).await;
    let (access, refresh) = app.login_tokens().await;
    let header: Value = {
        use base64::Engine;
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(access.split('.').next().unwrap())
            .unwrap();
        serde_json::from_slice(&raw).unwrap()
    };
    assert_eq!(header["alg"], "HS256");
    assert_eq!(header["kid"], kid(SECRET));
    let a = claims_of(&access);
    for claim in [
        "sub", "jti", "sid", "iat", "nbf", "exp", "iss", "aud", "typ", "username", "email", "rol",
    ] {
        assert!(a.get(claim).is_some(), "access lacks {claim}");
    }
    assert_eq!(
        (a["typ"].as_str(), a["iss"].as_str(), a["aud"].as_str()),
        (Some("access"), Some(ISSUER), Some(AUDIENCE))
    );
    let r = claims_of(&refresh);
    for claim in ["sub", "jti", "sid", "iat", "exp", "iss", "aud", "typ"] {
        assert!(r.get(claim).is_some(), "refresh lacks {claim}");
    }
    assert_eq!(r["typ"], "refresh");
    assert_eq!(a["sid"], r["sid"]);
    assert!(r.get("username").is_none(), "refresh tokens carry no profile");
}

#[tokio::test]
async fn a_token_living_longer_than_any_the_service_issues_is_refused() {
    let app = TestApp::spawn_with(StoreKind::Memory, &[]).await;
    let (access, _) = app.login_tokens().await;
    let real = claims_of(&access);
    let iat = real["iat"].as_i64().unwrap();
    let sign = |claims: &Value| forge(&hs256_header(SECRET), claims, SECRET, Algorithm::HS256);
    // A century, signed with the right secret for a real session: refused.
    let century = with(real.clone(), "exp", json!(iat + 100 * 365 * 24 * 3600));
    assert_eq!(me_codigo(&app, &sign(&century)).await, "TOKEN_INVALID");
    // gettoken's two hours plus the leeway is the longest an access token lives.
    let two_hours = with(real.clone(), "exp", json!(iat + 2 * 3600 + 5));
    assert_eq!(app.get_me(&sign(&two_hours)).await.0, 200);
    let longer = with(real, "exp", json!(iat + 2 * 3600 + 6));
    assert_eq!(me_codigo(&app, &sign(&longer)).await, "TOKEN_INVALID");
}

#[tokio::test]
async fn a_refresh_token_fails_a_plain_decode_with_the_secret_while_an_access_token_passes() {
    let app = TestApp::spawn_with(StoreKind::Memory, &[]).await;
    let (access, refresh) = app.login_tokens().await;
    assert_eq!(plain_decode(&access).unwrap()["typ"], "access");
    assert!(
        plain_decode(&refresh).is_err(),
        "a refresh token passed for an access token"
    );
    // Neither the signature nor the audience would do: each alone is enough to refuse it.
    assert_eq!(claims_of(&refresh)["aud"], ISSUER);
    let mut signature_only = jsonwebtoken::Validation::new(Algorithm::HS256);
    signature_only.validate_aud = false;
    assert!(jsonwebtoken::decode::<Value>(
        &refresh,
        &jsonwebtoken::DecodingKey::from_secret(SECRET.as_bytes()),
        &signature_only
    )
    .is_err());

    // The service itself still rotates the refresh token.
    let (status, body) = app.post_refresh(&refresh).await;
    assert_eq!(status, 200, "{body}");
}
