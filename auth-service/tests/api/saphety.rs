//! `POST /v2/auth/gettoken`: the seed's shapes exactly, every error case, the token's claims, MFA.

use serde_json::{json, Value};

use crate::helpers::*;

const GETTOKEN: &str = "/v2/auth/gettoken";

async fn gettoken(app: &TestApp, body: Value) -> (u16, Value, String) {
    let res = app
        .client
        .post(app.url(GETTOKEN))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let retry_after = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let text = res.text().await.unwrap();
    let value: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    assert_eq!(
        value["ResultCode"].as_u64(),
        Some(u64::from(status)),
        "HTTP status = ResultCode: {text}"
    );
    (
        status,
        value,
        if retry_after.is_empty() { text } else { retry_after },
    )
}

fn admin_body() -> Value {
    json!({"username": "admin@example.com", "password": ADMIN_PASSWORD, "virtual_operator": "saphety"})
}

fn identification_does_not_match() -> Value {
    json!({
        "IsValid": false,
        "Warnings": [],
        "Errors": [{"Field": null, "Code": "IdentificationDoesNotMatch", "Description": null, "ExplanationValues": []}],
        "ResultData": null,
        "ResultCode": 400
    })
}

#[tokio::test]
async fn success_has_the_seeds_shape_field_by_field() {
    let app = TestApp::spawn().await;
    let (status, body, text) = gettoken(&app, admin_body()).await;
    assert_eq!(status, 200, "{text}");
    assert!(
        text.starts_with(r#"{"IsValid":true,"Warnings":[],"Errors":[],"ResultData":{"access_token":""#),
        "{text}"
    );
    assert!(text.ends_with(r#""ResultCode":200}"#), "{text}");
    let data = body["ResultData"].as_object().unwrap();
    let keys: Vec<&str> = data.keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 4);
    for key in ["access_token", "expires", "token_type", "virtual_operator_alias"] {
        assert!(data.contains_key(key), "{key}");
    }
    assert_eq!(data["token_type"], "bearer");
    assert_eq!(data["virtual_operator_alias"], "saphety");

    // expires: UTC, seven fractional digits, Z, and equal to the token's exp.
    let expires = data["expires"].as_str().unwrap();
    assert_eq!(expires.len(), "2023-05-26T04:44:48.2524735Z".len(), "{expires}");
    assert!(
        expires.ends_with('Z') && expires.as_bytes()[19] == b'.',
        "{expires}"
    );
    let exp = claims_of(data["access_token"].as_str().unwrap())["exp"]
        .as_i64()
        .unwrap();
    let parsed =
        time::OffsetDateTime::parse(expires, &time::format_description::well_known::Rfc3339).unwrap();
    assert_eq!(parsed.unix_timestamp(), exp);
}

#[tokio::test]
async fn the_token_carries_the_seeds_claims_and_lives_at_most_two_hours() {
    let app = TestApp::spawn().await;
    let (_, body, _) = gettoken(&app, admin_body()).await;
    let token = body["ResultData"]["access_token"].as_str().unwrap();
    let c = claims_of(token);
    for claim in [
        "given_name",
        "unique_name",
        "nameid",
        "language",
        "usertype",
        "virtualoperator",
        "nbf",
        "exp",
        "iat",
        "iss",
        "aud",
        "sub",
        "jti",
        "sid",
        "typ",
        "username",
        "email",
        "rol",
    ] {
        assert!(c.get(claim).is_some(), "{claim} missing in {c}");
    }
    assert_eq!(c["typ"], "access");
    assert_eq!(c["unique_name"], "admin@example.com");
    assert_eq!(c["language"], "es-CO");
    assert_eq!(c["virtualoperator"], "saphety");
    assert_eq!(c["usertype"], "Admin");
    let lifetime = c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap();
    assert!(lifetime > 0 && lifetime <= 7200, "{lifetime}");
    let nameid = c["nameid"].as_str().unwrap();
    assert_eq!(uuid::Uuid::parse_str(nameid).unwrap().to_string(), nameid);
    // Stable per user.
    let (_, again, _) = gettoken(&app, admin_body()).await;
    assert_eq!(
        claims_of(again["ResultData"]["access_token"].as_str().unwrap())["nameid"],
        nameid
    );

    // It is an access token: the auth service accepts it (and so does any backend, see the e2e test).
    assert_eq!(app.get_me(token).await.0, 200);
}

#[tokio::test]
async fn wrong_password_unknown_email_and_wrong_operator_get_the_seeds_failure_exactly() {
    let app = TestApp::spawn().await;
    let before = app.app.passwords.hashes_run();
    for body in [
        json!({"username": "admin@example.com", "password": "wrong", "virtual_operator": "saphety"}),
        json!({"username": "nobody@example.com", "password": ADMIN_PASSWORD, "virtual_operator": "saphety"}),
        json!({"username": "admin@example.com", "password": ADMIN_PASSWORD, "virtual_operator": "otro"}),
        json!({"username": "bloqueado@example.com", "password": BLOCKED_PASSWORD, "virtual_operator": "saphety"}),
    ] {
        let (status, got, _) = gettoken(&app, body.clone()).await;
        assert_eq!(status, 400);
        assert_eq!(got, identification_does_not_match(), "{body}");
    }
    assert_eq!(
        app.app.passwords.hashes_run() - before,
        4,
        "one hash each: same timing"
    );
}

#[tokio::test]
async fn the_operator_is_matched_case_insensitively_and_echoed_canonically() {
    let app = TestApp::spawn().await;
    let (status, body, _) = gettoken(
        &app,
        json!({"username": OPS_EMAIL, "password": OPS_PASSWORD, "virtual_operator": "acmecorp"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ResultData"]["virtual_operator_alias"], "AcmeCorp");
    let (status, _, _) = gettoken(
        &app,
        json!({"username": OPS_EMAIL, "password": OPS_PASSWORD, "virtual_operator": "saphety"}),
    )
    .await;
    assert_eq!(status, 400, "a user of another operator");
    let (status, _, _) = gettoken(
        &app,
        json!({"username": "ADMIN@example.com", "password": ADMIN_PASSWORD, "virtual_operator": "SAPHETY"}),
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn missing_empty_or_mistyped_fields_are_named() {
    let app = TestApp::spawn_with(StoreKind::Memory, &[]).await;
    for field in ["username", "password", "virtual_operator"] {
        for bad in [None, Some(json!("")), Some(json!("   ")), Some(json!(42))] {
            let mut body = admin_body();
            match &bad {
                None => {
                    body.as_object_mut().unwrap().remove(field);
                }
                Some(v) => body[field] = v.clone(),
            }
            let (status, got, _) = gettoken(&app, body).await;
            assert_eq!(status, 400);
            assert_eq!(got["IsValid"], false);
            assert_eq!(got["ResultData"], Value::Null);
            assert_eq!(got["Errors"][0]["Field"], field, "{bad:?}: {got}");
        }
    }
}

#[tokio::test]
async fn malformed_requests_answer_in_the_saphety_envelope() {
    let app = TestApp::spawn_with(StoreKind::Memory, &[]).await;
    for (content_type, body, status) in [
        ("application/json", "{\"username\": ", 400),
        ("application/json", "[1, 2]", 400),
        ("text/plain", "{}", 400),
        ("application/json", &*"x".repeat(1 << 20), 413),
    ] {
        let res = app
            .client
            .post(app.url(GETTOKEN))
            .header("content-type", content_type)
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let (got_status, got) = read(res).await;
        assert_eq!(got_status, status, "{content_type} {got}");
        assert_eq!(got["IsValid"], false);
        assert_eq!(got["ResultCode"], status);
        assert!(got["Errors"][0]["Code"].is_string());
    }
}

#[tokio::test]
async fn an_expired_or_tampered_gettoken_token_gets_401() {
    let app = TestApp::spawn().await;
    let (_, body, _) = gettoken(&app, admin_body()).await;
    let token = body["ResultData"]["access_token"].as_str().unwrap().to_string();
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    let mut claims = claims_of(&token);
    claims["virtualoperator"] = json!("otro");
    parts[1] = b64(&claims);
    let (status, body) = app.get_me(&parts.join(".")).await;
    assert_eq!((status, codigo(&body)), (401, "TOKEN_INVALID"));
    app.clock.advance_secs(7200 + 10);
    let (status, body) = app.get_me(&token).await;
    assert_eq!((status, codigo(&body)), (401, "TOKEN_EXPIRED"));
}

#[tokio::test]
async fn an_mfa_user_needs_a_current_otp() {
    let app = TestApp::spawn().await;
    // Enrol maria.
    let (access, _) = app.login_tokens_as(MARIA, MARIA_PASSWORD).await;
    let (_, setup) = app.post_bearer("/auth/mfa/setup", &access).await;
    let secret = totp_rs::Secret::Encoded(setup["datos"]["secret"].as_str().unwrap().to_string())
        .to_bytes()
        .unwrap();
    let totp = totp_rs::TOTP::new_unchecked(totp_rs::Algorithm::SHA1, 6, 0, 30, secret, None, String::new());
    let now = app.clock.now_secs();
    let res = app
        .client
        .post(app.url("/auth/mfa/activate"))
        .bearer_auth(&access)
        .json(&json!({"code": totp.generate(now as u64)}))
        .send()
        .await
        .unwrap();
    assert_eq!(read(res).await.0, 200);
    app.clock.advance_secs(30);
    let now = app.clock.now_secs();

    let body =
        json!({"username": "maria@example.com", "password": MARIA_PASSWORD, "virtual_operator": "saphety"});
    let (status, got, _) = gettoken(&app, body.clone()).await;
    assert_eq!(status, 400);
    assert_eq!(got["Errors"][0]["Code"], "MfaRequired");
    assert_eq!(got["Errors"][0]["Field"], "otp");

    let mut wrong = body.clone();
    wrong["otp"] = json!(if totp.generate(now as u64) == "000000" {
        "111111"
    } else {
        "000000"
    });
    let (status, got, _) = gettoken(&app, wrong).await;
    assert_eq!(
        (status, got["Errors"][0]["Code"].as_str()),
        (400, Some("MfaInvalid"))
    );

    let mut good = body.clone();
    good["otp"] = json!(totp.generate(now as u64));
    let (status, got, _) = gettoken(&app, good.clone()).await;
    assert_eq!(status, 200, "{got}");
    // The same code again is a replay.
    let (status, got, _) = gettoken(&app, good).await;
    assert_eq!(
        (status, got["Errors"][0]["Code"].as_str()),
        (400, Some("MfaInvalid"))
    );
}
