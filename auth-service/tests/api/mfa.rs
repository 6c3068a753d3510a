//! TOTP MFA: enrolment, the second login step, replay protection, the window, tries, recovery codes,
//! disabling, and secrets encrypted at rest.

use auth_service::store::keys::Keys;
use base64::Engine;
use serde_json::{json, Value};
use totp_rs::{Algorithm, Secret, TOTP};

use crate::helpers::*;

pub(crate) struct Enrolled {
    pub(crate) totp: TOTP,
    secret_b32: String,
    recovery: Vec<String>,
}

fn totp_from(secret_b32: &str) -> TOTP {
    let bytes = Secret::Encoded(secret_b32.to_string()).to_bytes().unwrap();
    TOTP::new_unchecked(Algorithm::SHA1, 6, 0, 30, bytes, None, String::new())
}

pub(crate) fn code_at(totp: &TOTP, secs: i64) -> String {
    totp.generate(secs as u64)
}

impl TestApp {
    pub(crate) fn now(&self) -> i64 {
        self.clock.now_secs()
    }

    /// Moves to the start of the next 30 s step, so a fresh code is not a replay of the last one.
    pub(crate) fn next_step(&self) {
        let now = self.now();
        self.clock.advance_secs(30 - now.rem_euclid(30));
    }

    async fn enrol(&self, access: &str) -> Enrolled {
        let (status, body) = self.post_bearer("/auth/mfa/setup", access).await;
        assert_eq!(status, 200, "{body}");
        let secret_b32 = body["datos"]["secret"].as_str().unwrap().to_string();
        let totp = totp_from(&secret_b32);
        let res = self
            .client
            .post(self.url("/auth/mfa/activate"))
            .bearer_auth(access)
            .json(&json!({"code": code_at(&totp, self.now())}))
            .send()
            .await
            .unwrap();
        let (status, body) = read(res).await;
        assert_eq!(status, 200, "{body}");
        let recovery: Vec<String> = body["datos"]["recoveryCodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_string())
            .collect();
        self.next_step();
        Enrolled {
            totp,
            secret_b32,
            recovery,
        }
    }

    async fn challenge(&self) -> String {
        let (status, body) = self.post_login(MARIA, MARIA_PASSWORD).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["datos"]["mfaRequired"], true, "{body}");
        body["datos"]["mfaToken"].as_str().unwrap().to_string()
    }

    async fn verify(&self, mfa_token: &str, code: &str) -> (u16, Value) {
        self.post_json("/auth/mfa/verify", json!({"mfaToken": mfa_token, "code": code}))
            .await
    }
}

pub(crate) async fn maria_enrolled(app: &TestApp) -> Enrolled {
    let (access, _) = app.login_tokens_as(MARIA, MARIA_PASSWORD).await;
    app.enrol(&access).await
}

#[tokio::test]
async fn enrolment_returns_a_png_that_decodes_and_an_otpauth_url_with_every_parameter() {
    let app = TestApp::spawn().await;
    let (access, _) = app.login_tokens_as(MARIA, MARIA_PASSWORD).await;
    let (status, body) = app.post_bearer("/auth/mfa/setup", &access).await;
    assert_eq!(status, 200, "{body}");
    let datos = &body["datos"];
    let secret = datos["secret"].as_str().unwrap();
    assert_eq!(
        Secret::Encoded(secret.into()).to_bytes().unwrap().len(),
        20,
        "160-bit secret"
    );

    let png_b64 = datos["qrCode"]
        .as_str()
        .unwrap()
        .strip_prefix("data:image/png;base64,")
        .unwrap();
    let png_bytes = base64::engine::general_purpose::STANDARD.decode(png_b64).unwrap();
    let mut reader = png::Decoder::new(std::io::Cursor::new(png_bytes))
        .read_info()
        .unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut pixels).unwrap();
    assert!(
        frame.width > 20 && frame.width == frame.height,
        "a square QR image"
    );

    let url = datos["otpauthUrl"].as_str().unwrap();
    assert!(url.starts_with("otpauth://totp/ONI_Justicia:maria?"), "{url}");
    let query = url.split_once('?').unwrap().1;
    let params: Vec<(&str, &str)> = query.split('&').filter_map(|p| p.split_once('=')).collect();
    for expected in [
        ("secret", secret),
        ("issuer", "ONI_Justicia"),
        ("digits", "6"),
        ("period", "30"),
        ("algorithm", "SHA1"),
    ] {
        assert!(params.contains(&expected), "{expected:?} in {url}");
    }

    // Not active until activated: login still gives tokens.
    assert!(app.post_login(MARIA, MARIA_PASSWORD).await.1["datos"]["accessToken"].is_string());
}

#[tokio::test]
async fn after_activation_login_needs_a_second_step_whose_code_works_once() {
    let app = TestApp::spawn().await;
    let mfa = maria_enrolled(&app).await;

    let (status, body) = app.post_login(MARIA, MARIA_PASSWORD).await;
    assert_eq!(status, 200);
    let datos = body["datos"].as_object().unwrap();
    assert_eq!(datos["mfaRequired"], true);
    assert_eq!(datos["expiresIn"], 300);
    assert!(
        !datos.contains_key("accessToken") && !datos.contains_key("refreshToken"),
        "{body}"
    );
    let challenge = datos["mfaToken"].as_str().unwrap().to_string();

    let code = code_at(&mfa.totp, app.now());
    let (status, body) = app.verify(&challenge, &code).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["mensaje"], "Autenticación exitosa");
    assert_eq!(body["datos"]["user"]["username"], MARIA);
    let (access, refresh) = tokens(&body);
    assert_eq!(app.get_me(&access).await.0, 200);
    assert_eq!(app.post_refresh(&refresh).await.0, 200);

    // The same code again, on a fresh challenge: refused.
    let again = app.challenge().await;
    let (status, body) = app.verify(&again, &code).await;
    assert_eq!((status, codigo(&body)), (422, "MFA_INVALID"));
}

#[tokio::test]
async fn codes_are_accepted_one_step_old_and_refused_two_steps_old_with_window_1() {
    let app = TestApp::spawn().await;
    let mfa = maria_enrolled(&app).await;
    app.clock.advance_secs(95);
    let challenge = app.challenge().await;
    let (status, body) = app.verify(&challenge, &code_at(&mfa.totp, app.now() - 60)).await;
    assert_eq!((status, codigo(&body)), (422, "MFA_INVALID"), "two steps old");
    let (status, body) = app.verify(&challenge, &code_at(&mfa.totp, app.now() - 30)).await;
    assert_eq!(status, 200, "one step old: {body}");
}

#[tokio::test]
async fn the_sixth_try_on_a_challenge_is_refused_even_with_a_good_code() {
    // The account's own attempt limit (5 by default) would answer 429 first; raise it to see the
    // challenge's limit alone.
    let app = TestApp::spawn_with(StoreKind::Redis, &[("RATE_LIMIT_LOGIN_MAX_FAILURES", "50")]).await;
    let mfa = maria_enrolled(&app).await;
    let challenge = app.challenge().await;
    let good = code_at(&mfa.totp, app.now());
    let wrong = if good == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        assert_eq!(codigo(&app.verify(&challenge, wrong).await.1), "MFA_INVALID");
    }
    let (status, body) = app.verify(&challenge, &good).await;
    assert_eq!((status, codigo(&body)), (422, "MFA_INVALID"));
    // A fresh challenge with the same good code works: it was never consumed.
    let fresh = app.challenge().await;
    assert_eq!(app.verify(&fresh, &good).await.0, 200);
}

#[tokio::test]
async fn a_recovery_code_works_once_and_a_challenge_completes_one_login() {
    let app = TestApp::spawn_with(StoreKind::Memory, &[]).await;
    let mfa = maria_enrolled(&app).await;
    assert_eq!(mfa.recovery.len(), 10);
    let challenge = app.challenge().await;
    let (status, body) = app.verify(&challenge, &mfa.recovery[0].to_lowercase()).await;
    assert_eq!(status, 200, "{body}");
    // The challenge is spent, even with another good code.
    let (status, _) = app.verify(&challenge, &mfa.recovery[1]).await;
    assert_eq!(status, 422);
    // The recovery code is spent.
    let challenge = app.challenge().await;
    assert_eq!(
        codigo(&app.verify(&challenge, &mfa.recovery[0]).await.1),
        "MFA_INVALID"
    );
    assert_eq!(app.verify(&challenge, &mfa.recovery[1]).await.0, 200);
}

#[tokio::test]
async fn the_challenge_token_is_neither_an_access_nor_a_refresh_token() {
    let app = TestApp::spawn().await;
    maria_enrolled(&app).await;
    let challenge = app.challenge().await;
    assert_eq!(codigo(&app.get_me(&challenge).await.1), "TOKEN_INVALID");
    assert_eq!(codigo(&app.post_refresh(&challenge).await.1), "TOKEN_INVALID");
    assert_eq!(
        codigo(&app.post_bearer("/auth/logout", &challenge).await.1),
        "TOKEN_INVALID"
    );
    // And it expires after five minutes.
    app.clock.advance_secs(301 + 5);
    let (status, body) = app.verify(&challenge, "123456").await;
    assert_eq!((status, codigo(&body)), (401, "TOKEN_EXPIRED"));
}

#[tokio::test]
async fn setup_never_replaces_an_active_secret_and_disable_turns_mfa_off() {
    let app = TestApp::spawn().await;
    let (access, _) = app.login_tokens_as(MARIA, MARIA_PASSWORD).await;
    // A second setup before activation replaces the pending secret.
    let first = app.post_bearer("/auth/mfa/setup", &access).await.1["datos"]["secret"].clone();
    let mfa = app.enrol(&access).await;
    assert_ne!(json!(mfa.secret_b32), first);
    let old = totp_from(first.as_str().unwrap());
    let (status, _) = app.post_bearer("/auth/mfa/setup", &access).await;
    assert_eq!(status, 409);

    // A wrong code does not disable; the old pending secret's code neither.
    let res = app
        .client
        .post(app.url("/auth/mfa/disable"))
        .bearer_auth(&access)
        .json(&json!({"code": code_at(&old, app.now())}))
        .send()
        .await
        .unwrap();
    assert_eq!(read(res).await.0, 422);
    let res = app
        .client
        .post(app.url("/auth/mfa/disable"))
        .bearer_auth(&access)
        .json(&json!({"code": code_at(&mfa.totp, app.now())}))
        .send()
        .await
        .unwrap();
    let (status, body) = read(res).await;
    assert_eq!(status, 200, "{body}");
    assert!(app.post_login(MARIA, MARIA_PASSWORD).await.1["datos"]["accessToken"].is_string());
}

#[tokio::test]
async fn activation_needs_a_code_of_the_pending_secret() {
    let app = TestApp::spawn().await;
    let (access, _) = app.login_tokens_as(MARIA, MARIA_PASSWORD).await;
    let res = app
        .client
        .post(app.url("/auth/mfa/activate"))
        .bearer_auth(&access)
        .json(&json!({"code": "123456"}))
        .send()
        .await
        .unwrap();
    assert_eq!(read(res).await.0, 409, "nothing pending");
    app.post_bearer("/auth/mfa/setup", &access).await;
    let res = app
        .client
        .post(app.url("/auth/mfa/activate"))
        .bearer_auth(&access)
        .json(&json!({"code": "12345"}))
        .send()
        .await
        .unwrap();
    let (status, body) = read(res).await;
    assert_eq!((status, codigo(&body)), (422, "MFA_INVALID"));
}

#[tokio::test]
async fn the_secret_stored_in_redis_is_not_the_base32_secret() {
    let app = TestApp::spawn().await;
    let mfa = maria_enrolled(&app).await;
    let client = redis::Client::open(redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let stored: String = redis::cmd("HGET")
        .arg(Keys::new(&app.prefix).mfa("2"))
        .arg("active")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(!stored.is_empty());
    assert!(!stored.contains(&mfa.secret_b32));
    let raw = Secret::Encoded(mfa.secret_b32.clone()).to_bytes().unwrap();
    let stored_bytes = base64::engine::general_purpose::STANDARD.decode(&stored).unwrap();
    assert!(
        !stored_bytes.windows(raw.len()).any(|w| w == raw.as_slice()),
        "not in clear"
    );
    // Recovery codes are not stored in clear either.
    let hashes: Vec<String> = redis::cmd("SMEMBERS")
        .arg(Keys::new(&app.prefix).mfa_recovery("2"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(hashes.len(), 10);
    assert!(mfa
        .recovery
        .iter()
        .all(|c| !hashes.iter().any(|h| h.contains(&c.replace('-', "")))));
}

#[tokio::test]
async fn turning_mfa_enabled_off_never_turns_an_enrolled_users_second_factor_off() {
    let prefix = unique_prefix();
    let on = TestApp::spawn_on(StoreKind::Redis, &prefix, &[]).await;
    let mfa = maria_enrolled(&on).await;
    let off = TestApp::spawn_on(StoreKind::Redis, &prefix, &[("MFA_ENABLED", "false")]).await;
    off.clock.set_ms(on.clock.now_ms());
    // Login still stops at the second step, and the code still works.
    let challenge = off.challenge().await;
    assert_eq!(
        off.verify(&challenge, &code_at(&mfa.totp, off.now())).await.0,
        200
    );
    // gettoken still wants the otp.
    let res = off
        .client
        .post(off.url("/v2/auth/gettoken"))
        .json(&json!({"username": "maria@example.com", "password": MARIA_PASSWORD, "virtual_operator": "saphety"}))
        .send()
        .await
        .unwrap();
    let (status, body) = read(res).await;
    assert_eq!(
        (status, body["Errors"][0]["Code"].as_str()),
        (400, Some("MfaRequired"))
    );
    // Only new enrolments are off.
    let (access, _) = off.login_tokens_as(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(off.post_bearer("/auth/mfa/setup", &access).await.0, 404);
}

#[tokio::test]
async fn guessing_codes_at_disable_is_rate_limited() {
    let app = TestApp::spawn().await;
    let (access, _) = app.login_tokens_as(MARIA, MARIA_PASSWORD).await;
    let mfa = app.enrol(&access).await;
    let good = code_at(&mfa.totp, app.now());
    let wrong = if good == "000000" { "111111" } else { "000000" };
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let res = app
            .client
            .post(app.url("/auth/mfa/disable"))
            .bearer_auth(&access)
            .json(&json!({"code": wrong}))
            .send()
            .await
            .unwrap();
        statuses.push(res.status().as_u16());
    }
    assert!(statuses.contains(&422), "{statuses:?}");
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    // Locked: even the right code waits for the window.
    let res = app
        .client
        .post(app.url("/auth/mfa/disable"))
        .bearer_auth(&access)
        .json(&json!({"code": good}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 429);
}

#[tokio::test]
async fn the_challenge_token_fails_a_plain_decode_with_the_secret() {
    let app = TestApp::spawn_with(StoreKind::Memory, &[]).await;
    maria_enrolled(&app).await;
    let challenge = app.challenge().await;
    assert_eq!(claims_of(&challenge)["typ"], "mfa");
    assert_eq!(
        claims_of(&challenge)["aud"],
        ISSUER,
        "the auth service's own audience"
    );
    assert!(
        plain_decode(&challenge).is_err(),
        "an MFA token passed for an access token"
    );
}

#[tokio::test]
async fn a_right_code_never_forgets_wrong_passwords() {
    let app = TestApp::spawn().await;
    let (access, _) = app.login_tokens_as(MARIA, MARIA_PASSWORD).await;
    // Someone holding Maria's access token guesses her password four times...
    for _ in 0..4 {
        assert_eq!(app.post_login(MARIA, "guess").await.0, 422);
    }
    // ...then proves a code of their own (turning MFA on). Before, that success reset the password
    // counter, so the guesses never reached the lock.
    app.enrol(&access).await;
    assert_eq!(app.post_login(MARIA, "guess").await.0, 422);
    let (status, body) = app.post_login(MARIA, MARIA_PASSWORD).await;
    assert_eq!((status, codigo(&body)), (429, "RATE_LIMITED"), "{body}");
}

#[tokio::test]
async fn a_challenge_from_before_a_password_change_is_refused() {
    let app = TestApp::spawn().await;
    let mfa = maria_enrolled(&app).await;
    let stale = app.challenge().await;
    // Maria (or whoever holds her new password) changes it, from a full login.
    let fresh = app.challenge().await;
    let (status, body) = app.verify(&fresh, &code_at(&mfa.totp, app.now())).await;
    assert_eq!(status, 200, "{body}");
    let (access, _) = tokens(&body);
    let res = app
        .client
        .post(app.url("/auth/password"))
        .bearer_auth(&access)
        .json(&json!({"currentPassword": MARIA_PASSWORD, "newPassword": "otra clave muy larga 2026"}))
        .send()
        .await
        .unwrap();
    assert_eq!(read(res).await.0, 200);
    app.next_step();
    // The challenge the old password earned no longer completes a login, with a good code or not.
    let (status, body) = app.verify(&stale, &code_at(&mfa.totp, app.now())).await;
    assert_eq!((status, codigo(&body)), (401, "TOKEN_REVOKED"), "{body}");
}

#[tokio::test]
async fn a_challenge_from_before_a_logout_all_is_refused() {
    let app = TestApp::spawn().await;
    let mfa = maria_enrolled(&app).await;
    let first = app.challenge().await;
    let (status, body) = app.verify(&first, &code_at(&mfa.totp, app.now())).await;
    assert_eq!(status, 200, "{body}");
    let (access, _) = tokens(&body);
    app.next_step();
    let stale = app.challenge().await;
    assert_eq!(app.post_bearer("/auth/logout-all", &access).await.0, 200);
    let (status, body) = app.verify(&stale, &code_at(&mfa.totp, app.now())).await;
    assert_eq!((status, codigo(&body)), (401, "TOKEN_REVOKED"), "{body}");
    // A challenge earned after the logout-all works.
    app.clock.advance_secs(1);
    app.next_step();
    let after = app.challenge().await;
    let (status, body) = app.verify(&after, &code_at(&mfa.totp, app.now())).await;
    assert_eq!(status, 200, "{body}");
}
