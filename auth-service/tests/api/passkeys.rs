//! Passkeys through the JSON API, answered by a software authenticator and WebAuthn client from a
//! package (1Password's `passkey` crate, not ours): registration, sign-in alone and as the second
//! factor, replays, a cloned authenticator's counter, removal (with the password for the last factor),
//! a ceremony one replica begins and another finishes, and answers that do not tell who exists.

use std::collections::BTreeSet;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use passkey::authenticator::{Authenticator, UiHint, UserCheck, UserValidationMethod};
use passkey::client::{Client, DefaultClientData};
use passkey::crypto::rust_crypto::RustCryptoBackend;
use passkey::types::ctap2::{Aaguid, Ctap2Error};
use passkey::types::webauthn::{CredentialCreationOptions, CredentialRequestOptions};
use passkey::types::Passkey;
use serde_json::{json, Value};

use crate::helpers::*;

/// The origin the passkey client claims, one of `WEBAUTHN_ORIGINS`.
const ORIGIN: &str = "http://localhost:8000";

/// A person who is always there and always verified (a fingerprint that always matches).
struct Present;

#[async_trait::async_trait]
impl UserValidationMethod for Present {
    type PasskeyItem = Passkey;

    async fn check_user<'a>(
        &self,
        _hint: UiHint<'a, Passkey>,
        presence: bool,
        verification: bool,
    ) -> Result<UserCheck, Ctap2Error> {
        Ok(UserCheck {
            presence,
            verification,
        })
    }

    fn is_presence_enabled(&self) -> bool {
        true
    }

    fn is_verification_enabled(&self) -> Option<bool> {
        Some(true)
    }
}

type SoftClient = Client<Option<Passkey>, Present, RustCryptoBackend, public_suffix::PublicSuffixList, ()>;

/// One software authenticator holding at most one passkey, behind a WebAuthn client.
struct SoftKey(SoftClient);

impl SoftKey {
    fn new() -> Self {
        Self::holding(None)
    }

    /// An authenticator holding a copy of `passkey` (a clone of another device).
    fn holding(passkey: Option<Passkey>) -> Self {
        let mut authenticator = Authenticator::new(Aaguid::new_empty(), passkey, Present, RustCryptoBackend);
        // Counters, so a clone that falls behind can be told.
        authenticator.set_make_credentials_with_signature_counter(true);
        Self(Client::new(authenticator).allows_insecure_localhost(true))
    }

    fn passkey(&self) -> Option<Passkey> {
        self.0.authenticator().store().clone()
    }

    /// Answers registration options (`datos` of the options call): the `RegistrationResponseJSON`.
    async fn create(&mut self, datos: &Value) -> Value {
        let request = CredentialCreationOptions {
            public_key: serde_json::from_value(datos["publicKey"].clone()).unwrap(),
        };
        let origin = url::Url::parse(ORIGIN).unwrap();
        let created = self
            .0
            .register(&origin, request, DefaultClientData)
            .await
            .unwrap();
        serde_json::to_value(created).unwrap()
    }

    /// Answers request options: the `AuthenticationResponseJSON`.
    async fn get(&mut self, datos: &Value) -> Value {
        let request = CredentialRequestOptions {
            public_key: serde_json::from_value(datos["publicKey"].clone()).unwrap(),
        };
        let origin = url::Url::parse(ORIGIN).unwrap();
        let asserted = self
            .0
            .authenticate(&origin, request, DefaultClientData)
            .await
            .unwrap();
        serde_json::to_value(asserted).unwrap()
    }
}

const PASSKEYS_ON: [(&str, &str); 2] = [("WEBAUTHN_RP_ID", "localhost"), ("WEBAUTHN_ORIGINS", ORIGIN)];

async fn spawn(kind: StoreKind) -> TestApp {
    TestApp::spawn_with(kind, &PASSKEYS_ON).await
}

impl TestApp {
    async fn send(
        &self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.client.request(method.parse().unwrap(), self.url(path));
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        read(request.send().await.unwrap()).await
    }

    /// Registers a passkey on `key` for the session `access`; its id.
    async fn add_passkey(&self, access: &str, key: &mut SoftKey, name: &str) -> String {
        let (status, options) = self.post_bearer("/auth/passkeys/register/options", access).await;
        assert_eq!(status, 200, "{options}");
        let credential = key.create(&options["datos"]).await;
        let (status, body) = self
            .send(
                "POST",
                "/auth/passkeys/register",
                Some(access),
                Some(json!({"credential": credential, "name": name})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["datos"]["name"], name);
        body["datos"]["id"].as_str().unwrap().to_string()
    }

    /// Options for a sign-in with `ask` (`{}`, `{"username"}`, `{"mfaToken"}`), answered by `key`.
    async fn assertion(&self, ask: Value, key: &mut SoftKey) -> Value {
        let (status, options) = self.post_json("/auth/passkeys/login/options", ask).await;
        assert_eq!(status, 200, "{options}");
        key.get(&options["datos"]).await
    }

    async fn passkey_login(&self, credential: &Value) -> (u16, Value) {
        self.post_json("/auth/passkeys/login", json!({ "credential": credential }))
            .await
    }
}

async fn maria_with_a_passkey(app: &TestApp) -> (String, SoftKey, String) {
    let (access, _) = app.login_tokens_as(MARIA, MARIA_PASSWORD).await;
    let mut key = SoftKey::new();
    let id = app.add_passkey(&access, &mut key, "Portátil").await;
    (access, key, id)
}

#[tokio::test]
async fn a_registered_passkey_signs_in_alone_on_redis_and_on_the_embedded_store() {
    for kind in [StoreKind::Redis, StoreKind::Memory] {
        let app = spawn(kind).await;
        let (access, mut key, id) = maria_with_a_passkey(&app).await;

        let (status, list) = app.get_bearer("/auth/passkeys", &access).await;
        assert_eq!(status, 200, "{list}");
        let list = list["datos"].as_array().unwrap().clone();
        assert_eq!(list.len(), 1, "{list:?}");
        assert_eq!(
            (list[0]["id"].as_str(), list[0]["lastUsedAt"].is_null()),
            (Some(id.as_str()), true)
        );
        let (_, factors) = app.get_bearer("/auth/mfa", &access).await;
        assert_eq!(
            (
                factors["datos"]["totp"].clone(),
                factors["datos"]["passkeys"].clone()
            ),
            (json!(false), json!(1))
        );

        // A discoverable credential: no name typed.
        let credential = app.assertion(json!({}), &mut key).await;
        let (status, body) = app.passkey_login(&credential).await;
        assert_eq!(status, 200, "{body}");
        let (session, _) = tokens(&body);
        assert_eq!(body["datos"]["user"]["username"], MARIA);
        assert_eq!(app.get_me(&session).await.0, 200);
        let (_, list) = app.get_bearer("/auth/passkeys", &access).await;
        assert!(list["datos"][0]["lastUsedAt"].is_string(), "{list}");

        // By name: the options name her passkey.
        let (status, options) = app
            .post_json("/auth/passkeys/login/options", json!({"username": MARIA}))
            .await;
        assert_eq!(status, 200, "{options}");
        let allowed = &options["datos"]["publicKey"]["allowCredentials"];
        assert_eq!(allowed[0]["id"], json!(id), "{options}");
        assert_eq!(options["datos"]["publicKey"]["userVerification"], "required");
        let credential = key.get(&options["datos"]).await;
        assert_eq!(app.passkey_login(&credential).await.0, 200);
    }
}

#[tokio::test]
async fn with_a_passkey_the_password_asks_for_it_as_the_second_factor() {
    let app = spawn(StoreKind::Redis).await;
    let (_, mut key, _) = maria_with_a_passkey(&app).await;

    let (status, body) = app.post_login(MARIA, MARIA_PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["datos"]["mfaRequired"], true, "{body}");
    assert_eq!(body["datos"]["methods"], json!(["passkey"]));
    let mfa_token = body["datos"]["mfaToken"].as_str().unwrap().to_string();

    let passkey = app.assertion(json!({"mfaToken": mfa_token}), &mut key).await;
    let (status, body) = app
        .post_json(
            "/auth/mfa/verify",
            json!({"mfaToken": mfa_token, "passkey": passkey}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (access, _) = tokens(&body);
    assert_eq!(app.get_me(&access).await.0, 200);

    // Neither a code nor a passkey, or both: a field error.
    let (status, body) = app
        .post_json("/auth/mfa/verify", json!({"mfaToken": mfa_token}))
        .await;
    assert_eq!((status, codigo(&body)), (422, "VALIDATION_ERROR"), "{body}");
}

#[tokio::test]
async fn an_assertion_for_another_login_or_presented_twice_is_refused() {
    let app = spawn(StoreKind::Redis).await;
    let (_, mut key, _) = maria_with_a_passkey(&app).await;

    // A sign-in's assertion, twice: the ceremony is spent after the first.
    let credential = app.assertion(json!({}), &mut key).await;
    assert_eq!(app.passkey_login(&credential).await.0, 200);
    let (status, body) = app.passkey_login(&credential).await;
    assert_eq!((status, codigo(&body)), (422, "INVALID_CREDENTIALS"), "{body}");

    // A second step answered for one password login, presented for another: refused, and it
    // counts as that challenge's try.
    let challenge = |body: Value| body["datos"]["mfaToken"].as_str().unwrap().to_string();
    let first = challenge(app.post_login(MARIA, MARIA_PASSWORD).await.1);
    let second = challenge(app.post_login(MARIA, MARIA_PASSWORD).await.1);
    let passkey = app.assertion(json!({"mfaToken": first}), &mut key).await;
    let (status, body) = app
        .post_json(
            "/auth/mfa/verify",
            json!({"mfaToken": second, "passkey": passkey}),
        )
        .await;
    assert_eq!((status, codigo(&body)), (422, "MFA_INVALID"), "{body}");
    // Nor may a sign-in ceremony's assertion stand in for a second step.
    let alone = app.assertion(json!({}), &mut key).await;
    let (status, body) = app
        .post_json("/auth/mfa/verify", json!({"mfaToken": second, "passkey": alone}))
        .await;
    assert_eq!((status, codigo(&body)), (422, "MFA_INVALID"), "{body}");
}

#[tokio::test]
async fn a_cloned_authenticator_whose_counter_went_back_is_refused() {
    let app = spawn(StoreKind::Redis).await;
    let (_, mut key, _) = maria_with_a_passkey(&app).await;
    let mut clone = SoftKey::holding(key.passkey());

    // The original signs in twice (its counter moves on), then the copy, left behind, tries.
    for _ in 0..2 {
        let credential = app.assertion(json!({}), &mut key).await;
        assert_eq!(app.passkey_login(&credential).await.0, 200);
    }
    let regressions = || async {
        let text = app
            .client
            .get(app.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find(|l| l.starts_with("auth_audit_events_total{event=\"passkey_counter_regressed\"}"))
            .and_then(|l| l.rsplit(' ').next())
            .map_or(0.0, |n| n.parse::<f64>().unwrap())
    };
    let before = regressions().await;
    let credential = app.assertion(json!({}), &mut clone).await;
    let (status, body) = app.passkey_login(&credential).await;
    assert_eq!((status, codigo(&body)), (422, "INVALID_CREDENTIALS"), "{body}");
    // Refused for its counter (the audit event), not for anything else.
    assert!(regressions().await > before, "no passkey_counter_regressed event");
    // The original still works.
    let credential = app.assertion(json!({}), &mut key).await;
    assert_eq!(app.passkey_login(&credential).await.0, 200);
}

#[tokio::test]
async fn a_removed_passkey_no_longer_signs_in_and_the_last_factor_asks_for_the_password() {
    let app = spawn(StoreKind::Redis).await;
    let (access, mut key, id) = maria_with_a_passkey(&app).await;
    let mut other = SoftKey::new();
    let other_id = app.add_passkey(&access, &mut other, "Llave USB").await;

    // Renamed, then removed: not the last factor, so no password.
    let (status, body) = app
        .send(
            "PATCH",
            &format!("/auth/passkeys/{other_id}"),
            Some(&access),
            Some(json!({"name": "Llave azul"})),
        )
        .await;
    assert_eq!(
        (status, body["datos"]["name"].as_str()),
        (200, Some("Llave azul")),
        "{body}"
    );
    let (status, body) = app
        .send(
            "PATCH",
            &format!("/auth/passkeys/{other_id}"),
            Some(&access),
            Some(json!({"name": "x".repeat(65)})),
        )
        .await;
    assert_eq!((status, codigo(&body)), (422, "VALIDATION_ERROR"), "{body}");
    let (status, body) = app
        .send(
            "DELETE",
            &format!("/auth/passkeys/{other_id}"),
            Some(&access),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let credential = app.assertion(json!({}), &mut other).await;
    let (status, body) = app.passkey_login(&credential).await;
    assert_eq!((status, codigo(&body)), (422, "INVALID_CREDENTIALS"), "{body}");

    // The last one: the password first (a wrong one counts like a wrong login).
    let path = format!("/auth/passkeys/{id}");
    let (status, body) = app.send("DELETE", &path, Some(&access), None).await;
    assert_eq!((status, codigo(&body)), (422, "VALIDATION_ERROR"), "{body}");
    assert!(body["detalle"].as_str().unwrap().contains("contraseña"), "{body}");
    let (status, body) = app
        .send(
            "DELETE",
            &path,
            Some(&access),
            Some(json!({"password": "not hers"})),
        )
        .await;
    assert_eq!((status, codigo(&body)), (422, "INVALID_CREDENTIALS"), "{body}");
    let (status, body) = app
        .send(
            "DELETE",
            &path,
            Some(&access),
            Some(json!({"password": MARIA_PASSWORD})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let credential = app.assertion(json!({}), &mut key).await;
    assert_eq!(app.passkey_login(&credential).await.0, 422);
    // And the password alone signs in again.
    let (_, body) = app.post_login(MARIA, MARIA_PASSWORD).await;
    assert!(body["datos"]["accessToken"].is_string(), "{body}");

    // Someone else's passkey, or none: 404.
    let (status, _) = app.send("DELETE", &path, Some(&access), None).await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_removals_at_once_without_the_password_leave_one_passkey_on_each_store() {
    for kind in [StoreKind::Redis, StoreKind::Memory] {
        let app = spawn(kind).await;
        let (access, _key, mut kept) = maria_with_a_passkey(&app).await;
        // Each removal alone is not of the last factor; both at once would leave none, so one of
        // them must ask for the password (a stolen access token alone cannot strip the account).
        // Rounds, because two requests at once may also run one after the other.
        for round in 0..12 {
            let mut key = SoftKey::new();
            let added = app
                .add_passkey(&access, &mut key, &format!("Llave {round}"))
                .await;
            let (path_one, path_two) = (
                format!("/auth/passkeys/{kept}"),
                format!("/auth/passkeys/{added}"),
            );
            let (one, two) = tokio::join!(
                app.send("DELETE", &path_one, Some(&access), None),
                app.send("DELETE", &path_two, Some(&access), None),
            );
            let mut statuses = [one.0, two.0];
            statuses.sort_unstable();
            assert_eq!(statuses, [200, 422], "{kind:?}, round {round}: {one:?} {two:?}");
            let refused = if one.0 == 422 { &one.1 } else { &two.1 };
            assert_eq!(codigo(refused), "VALIDATION_ERROR", "{refused}");
            assert!(
                refused["detalle"].as_str().unwrap().contains("contraseña"),
                "{refused}"
            );
            let (status, body) = app.send("GET", "/auth/passkeys", Some(&access), None).await;
            assert_eq!(status, 200, "{body}");
            let left = body["datos"].as_array().cloned().unwrap_or_default();
            assert_eq!(left.len(), 1, "{kind:?}, round {round}: {body}");
            kept = left[0]["id"].as_str().unwrap().to_string();
        }
    }
}

#[tokio::test]
async fn a_ceremony_one_replica_begins_another_finishes() {
    let prefix = unique_prefix();
    let a = TestApp::spawn_on(StoreKind::Redis, &prefix, &PASSKEYS_ON).await;
    let b = TestApp::spawn_on(StoreKind::Redis, &prefix, &PASSKEYS_ON).await;
    let (access, _) = a.login_tokens_as(MARIA, MARIA_PASSWORD).await;
    let mut key = SoftKey::new();

    // Registration: options from A, the credential to B.
    let (_, options) = a.post_bearer("/auth/passkeys/register/options", &access).await;
    let credential = key.create(&options["datos"]).await;
    let (status, body) = b
        .send(
            "POST",
            "/auth/passkeys/register",
            Some(&access),
            Some(json!({"credential": credential})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["datos"]["name"], "Llave de acceso", "the default name");

    // Sign-in: options from B, the assertion to A; then the same assertion at B is a replay.
    let credential = b.assertion(json!({}), &mut key).await;
    assert_eq!(a.passkey_login(&credential).await.0, 200);
    assert_eq!(b.passkey_login(&credential).await.0, 422);
}

#[tokio::test]
async fn options_by_name_look_the_same_whether_the_user_exists_or_not() {
    let app = spawn(StoreKind::Redis).await;
    let shape = |v: &Value| -> Vec<String> {
        let mut keys: Vec<String> = v["datos"]["publicKey"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        keys.sort();
        keys
    };
    let (status, nobody) = app
        .post_json("/auth/passkeys/login/options", json!({"username": "nadie"}))
        .await;
    assert_eq!(status, 200, "{nobody}");
    let (_, without) = app
        .post_json("/auth/passkeys/login/options", json!({"username": MARIA}))
        .await;
    assert_eq!(shape(&nobody), shape(&without));
    let decoy = |v: &Value| {
        v["datos"]["publicKey"]["allowCredentials"]
            .as_array()
            .unwrap()
            .len()
    };
    assert!((1..=2).contains(&decoy(&nobody)), "{nobody}");
    assert!((1..=2).contains(&decoy(&without)), "{without}");
    // The same decoys every time for the same name.
    let (_, again) = app
        .post_json("/auth/passkeys/login/options", json!({"username": "NADIE"}))
        .await;
    assert_eq!(
        nobody["datos"]["publicKey"]["allowCredentials"],
        again["datos"]["publicKey"]["allowCredentials"]
    );

    // Across names, the decoys come as real credentials do: one or two, ids of the lengths common
    // authenticators make, the transports they report; so neither their number, nor an id's length,
    // nor its transports single out a name that has passkeys.
    let (mut counts, mut lengths, mut transports) = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    for n in 0..64 {
        let (status, answer) = app
            .post_json(
                "/auth/passkeys/login/options",
                json!({"username": format!("alguien{n}")}),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
        let allowed = answer["datos"]["publicKey"]["allowCredentials"]
            .as_array()
            .unwrap();
        counts.insert(allowed.len());
        for entry in allowed {
            let mut keys: Vec<&String> = entry.as_object().unwrap().keys().collect();
            keys.sort();
            assert_eq!(keys, ["id", "transports", "type"], "{entry}");
            lengths.insert(B64.decode(entry["id"].as_str().unwrap()).unwrap().len());
            transports.insert(entry["transports"].to_string());
        }
    }
    assert_eq!(counts, BTreeSet::from([1, 2]));
    assert_eq!(lengths, BTreeSet::from([16, 20, 32, 64]));
    assert_eq!(transports.len(), 5, "{transports:?}");

    // A user with a passkey: the entry of the same keys.
    maria_with_a_passkey(&app).await;
    let (_, with) = app
        .post_json("/auth/passkeys/login/options", json!({"username": MARIA}))
        .await;
    assert_eq!(shape(&with), shape(&nobody));
    let entry = &with["datos"]["publicKey"]["allowCredentials"][0];
    let mut keys: Vec<&String> = entry.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["id", "transports", "type"], "{entry}");
}

#[tokio::test]
async fn bad_registrations_are_clear_errors_and_keep_nothing() {
    let app = spawn(StoreKind::Redis).await;
    let (access, _) = app.login_tokens_as(MARIA, MARIA_PASSWORD).await;
    let mut key = SoftKey::new();
    let (_, options) = app.post_bearer("/auth/passkeys/register/options", &access).await;
    let credential = key.create(&options["datos"]).await;

    for (body, field) in [
        (json!({"credential": {"id": "x"}}), "credential"),
        (json!({"credential": "not an object"}), "credential"),
        (json!({"credential": credential, "name": "a\u{7}b"}), "name"),
    ] {
        let (status, answer) = app
            .send("POST", "/auth/passkeys/register", Some(&access), Some(body))
            .await;
        assert_eq!((status, codigo(&answer)), (422, "VALIDATION_ERROR"), "{answer}");
        assert!(answer["detalle"].as_str().unwrap().contains(field), "{answer}");
    }
    // Another user cannot finish her ceremony.
    let (admin, _) = app.login_tokens().await;
    let (status, answer) = app
        .send(
            "POST",
            "/auth/passkeys/register",
            Some(&admin),
            Some(json!({"credential": credential})),
        )
        .await;
    assert_eq!((status, codigo(&answer)), (422, "VALIDATION_ERROR"), "{answer}");
    // That spent it: she asks again.
    let (status, answer) = app
        .send(
            "POST",
            "/auth/passkeys/register",
            Some(&access),
            Some(json!({"credential": credential})),
        )
        .await;
    assert_eq!((status, codigo(&answer)), (422, "VALIDATION_ERROR"), "{answer}");
    let (_, list) = app.get_bearer("/auth/passkeys", &access).await;
    assert_eq!(list["datos"], json!([]));
    // Without a token: 401.
    let (status, _) = app.post_json("/auth/passkeys/register/options", json!({})).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn without_a_relying_party_passkeys_are_off() {
    // The test default: JWT_ISSUER is not a URL, and no WEBAUTHN_RP_ID.
    let app = TestApp::spawn().await;
    let (access, _) = app.login_tokens_as(MARIA, MARIA_PASSWORD).await;
    let (status, body) = app.post_bearer("/auth/passkeys/register/options", &access).await;
    assert_eq!((status, codigo(&body)), (404, "NOT_FOUND"), "{body}");
    let (status, body) = app.post_json("/auth/passkeys/login/options", json!({})).await;
    assert_eq!((status, codigo(&body)), (404, "NOT_FOUND"), "{body}");
    let (status, body) = app.get_bearer("/auth/passkeys", &access).await;
    assert_eq!((status, &body["datos"]), (200, &json!([])), "{body}");
}
