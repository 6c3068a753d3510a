//! Asymmetric signing (EdDSA, ES256, RS256): access tokens that only the published public keys verify,
//! a set that never carries a private member, algorithm confusion refused, rotation published before it
//! signs, replicas that rotate at once adding one key, and a wrong KEY_ENCRYPTION_KEY stopping the start.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde_json::{json, Value};

use crate::helpers::*;

const KEK: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
const OTHER_KEK: &str = "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=";

pub(crate) async fn jwks(app: &TestApp) -> (reqwest::header::HeaderMap, Value) {
    let res = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let headers = res.headers().clone();
    (headers, res.json().await.unwrap())
}

fn kid(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

/// Verifies `token` with the published key named by its kid alone, as a backend would.
fn verifies_with_the_set(token: &str, set: &Value, algorithm: Algorithm) -> bool {
    let kid = kid(token);
    let Some(jwk) = set["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
    else {
        return false;
    };
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk.clone()).unwrap();
    let key = DecodingKey::from_jwk(&jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(algorithm);
    validation.set_audience(&["solicitud-transporte-api"]);
    jsonwebtoken::decode::<Value>(token, &key, &validation).is_ok()
}

#[tokio::test]
async fn each_asymmetric_algorithm_signs_tokens_the_published_set_alone_verifies() {
    for (name, algorithm, kty) in [
        ("EdDSA", Algorithm::EdDSA, "OKP"),
        ("ES256", Algorithm::ES256, "EC"),
        ("RS256", Algorithm::RS256, "RSA"),
    ] {
        let app = TestApp::spawn_with(StoreKind::Memory, &[("JWT_ALGORITHM", name)]).await;
        let (access, refresh) = app.login_tokens().await;
        let header = jsonwebtoken::decode_header(&access).unwrap();
        assert_eq!(header.alg, algorithm, "{name}");
        let (headers, set) = jwks(&app).await;
        assert_eq!(headers["cache-control"], "public, max-age=300", "{name}");
        assert!(headers.get("pragma").is_none(), "{name}");
        let keys = set["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 1, "{name}: {set}");
        for key in keys {
            assert_eq!(
                (key["kty"].as_str(), key["alg"].as_str(), key["use"].as_str()),
                (Some(kty), Some(name), Some("sig"))
            );
            for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
                assert!(key.get(private).is_none(), "{name} publishes `{private}`: {key}");
            }
        }
        assert!(verifies_with_the_set(&access, &set, algorithm), "{name}");
        assert_eq!(app.get_me(&access).await.0, 200, "{name}");
        // Refresh tokens stay HMAC, under a key only auth-service holds, and never verify with the set.
        assert_eq!(
            jsonwebtoken::decode_header(&refresh).unwrap().alg,
            Algorithm::HS256
        );
        assert_eq!(app.post_refresh(&refresh).await.0, 200, "{name}");
    }
}

#[tokio::test]
async fn an_asymmetric_deployment_refuses_every_token_of_another_algorithm() {
    for name in ["EdDSA", "ES256", "RS256"] {
        let app = TestApp::spawn_with(StoreKind::Memory, &[("JWT_ALGORITHM", name)]).await;
        let (access, _) = app.login_tokens().await;
        let claims = jsonwebtoken::dangerous::insecure_decode::<Value>(&access)
            .unwrap()
            .claims;
        let (_, set) = jwks(&app).await;
        let public = serde_json::to_vec(&set["keys"][0]).unwrap();
        let mut forged = Vec::new();
        // HS256 with JWT_SECRET (the deployment holds it, for refresh tokens), and HS256 "signed"
        // with the public key's bytes: the algorithm-confusion family.
        for secret in [SECRET.as_bytes(), public.as_slice()] {
            let mut header = Header::new(Algorithm::HS256);
            header.kid = Some(kid(&access));
            forged.push(jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(secret)).unwrap());
        }
        forged.push(format!(
            "{}.{}.",
            b64(&json!({"alg": "none", "kid": kid(&access)})),
            access.split('.').nth(1).unwrap()
        ));
        for token in forged {
            let (status, body) = app.get_me(&token).await;
            assert_eq!((status, codigo(&body)), (401, "TOKEN_INVALID"), "{name}: {body}");
        }
    }
}

#[tokio::test]
async fn a_forced_rotation_is_published_before_it_signs_and_old_tokens_stay_valid() {
    let app = TestApp::spawn_with(
        StoreKind::Memory,
        &[("JWT_ALGORITHM", "EdDSA"), ("JWKS_CACHE_SECONDS", "60")],
    )
    .await;
    let signing = app.app.signing.clone().unwrap();
    let (old, _) = app.login_tokens().await;
    let first = kid(&old);
    let next = signing.rotate(Algorithm::EdDSA).await.unwrap();
    signing.reload().await.unwrap();
    // Published at once, not yet signing: a backend's cached set has a minute to learn it.
    let (_, set) = jwks(&app).await;
    let kids: Vec<&str> = set["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids.len(), 2, "{set}");
    assert!(kids.contains(&next.kid.as_str()));
    assert_eq!(
        kid(&app.login_tokens().await.0),
        first,
        "signs with the old key during the lead"
    );
    // Past the lead the new key signs; the old key's tokens still verify.
    app.clock.advance_secs(61);
    signing.reload().await.unwrap();
    let (fresh, _) = app.login_tokens().await;
    assert_eq!(kid(&fresh), next.kid);
    assert_eq!(app.get_me(&old).await.0, 200, "an old key's token stays valid");
    assert!(verifies_with_the_set(
        &fresh,
        &jwks(&app).await.1,
        Algorithm::EdDSA
    ));
    // Once every token the old key signed has expired (2 h, the longest: gettoken's, and the leeway),
    // and a replica that had not read the keys again since could have signed with it (two reload
    // intervals), it is retired; not before.
    app.clock.advance_secs(2 * 3600 + 10);
    signing.reload().await.unwrap();
    let (_, set) = jwks(&app).await;
    assert_eq!(
        set["keys"].as_array().map(Vec::len),
        Some(2),
        "kept a while longer: {set}"
    );
    app.clock.advance_secs(20);
    signing.reload().await.unwrap();
    let (_, set) = jwks(&app).await;
    let kids: Vec<&str> = set["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, vec![next.kid.as_str()], "{set}");
}

#[tokio::test]
async fn a_rotation_forced_from_a_host_whose_clock_is_behind_leaves_the_schedule_going() {
    let app = TestApp::spawn_with(
        StoreKind::Memory,
        &[("JWT_ALGORITHM", "EdDSA"), ("JWT_KEY_ROTATION_DAYS", "1")],
    )
    .await;
    let signing = app.app.signing.clone().unwrap();
    let first = kid(&app.login_tokens().await.0);
    let now = app.clock.now_ms();
    // `auth-service keys rotate` on a host six hours behind the replicas.
    app.clock.set_ms(now - 6 * 3_600_000);
    let forced = signing.rotate(Algorithm::EdDSA).await.unwrap();
    app.clock.set_ms(now);
    signing.reload().await.unwrap();
    assert_eq!(
        kid(&app.login_tokens().await.0),
        first,
        "the forced key waits for its lead, counted from the replicas' time"
    );
    // The forced key signs after its lead; a day after it the schedule adds the next one, and
    // once more a day later: the replicas' "newest" is the store's.
    let mut kids = vec![first.clone(), forced.kid.clone()];
    for day in 1..=2 {
        app.clock.advance_secs(86_400 + 600);
        signing.reload().await.unwrap();
        let listed: Vec<String> = signing.list().await.unwrap().into_iter().map(|k| k.kid).collect();
        let added: Vec<&String> = listed.iter().filter(|k| !kids.contains(k)).collect();
        assert_eq!(
            added.len(),
            1,
            "day {day}: one key added by the schedule: {listed:?}"
        );
        kids.push(added[0].clone());
    }
    assert_ne!(kid(&app.login_tokens().await.0), first);
}

#[tokio::test]
async fn a_rotation_forced_from_a_clock_behind_still_waits_its_lead_by_the_stores_time() {
    let app = TestApp::spawn_with(
        StoreKind::Redis,
        &[
            ("JWT_ALGORITHM", "EdDSA"),
            ("JWKS_CACHE_SECONDS", "60"),
            ("KEY_ENCRYPTION_KEY", KEK),
        ],
    )
    .await;
    let signing = app.app.signing.clone().unwrap();
    let first = kid(&app.login_tokens().await.0);
    // The newest key was made long ago (a month on), and the host forcing the rotation runs six
    // hours behind the store.
    app.clock.advance_secs(30 * 86_400 - 3_600);
    signing.reload().await.unwrap();
    assert_eq!(kid(&app.login_tokens().await.0), first);
    app.clock.skew_secs(-6 * 3_600);
    let forced = signing.rotate(Algorithm::EdDSA).await.unwrap();
    app.clock.skew_secs(6 * 3_600);
    signing.reload().await.unwrap();
    assert_eq!(
        kid(&app.login_tokens().await.0),
        first,
        "published, not yet signing: a backend's cached set has its minute to learn it"
    );
    app.clock.advance_secs(61);
    signing.reload().await.unwrap();
    assert_eq!(kid(&app.login_tokens().await.0), forced.kid);
}

#[tokio::test]
async fn replicas_rotating_at_once_add_one_key_not_two() {
    let prefix = unique_prefix();
    let vars = [
        ("JWT_ALGORITHM", "ES256"),
        ("KEY_ENCRYPTION_KEY", KEK),
        ("JWT_KEY_ROTATION_DAYS", "1"),
    ];
    let a = TestApp::spawn_on(StoreKind::Redis, &prefix, &vars).await;
    let b = TestApp::spawn_on(StoreKind::Redis, &prefix, &vars).await;
    let (ka, kb) = (a.app.signing.clone().unwrap(), b.app.signing.clone().unwrap());
    assert_eq!(
        kid(&a.login_tokens().await.0),
        kid(&b.login_tokens().await.0),
        "one key for both"
    );
    // A day later both find the key due for rotation at the same instant.
    a.clock.advance_secs(86_400);
    b.clock.advance_secs(86_400);
    let (ra, rb) = tokio::join!(ka.reload(), kb.reload());
    ra.unwrap();
    rb.unwrap();
    let listed = ka.list().await.unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(
        listed.iter().filter(|k| k.state == "next").count(),
        1,
        "{listed:?}"
    );
}

#[tokio::test]
async fn a_wrong_or_missing_key_encryption_key_stops_the_start_naming_it() {
    use auth_service::config::AuthConfig;
    use shared::config::FromVars;
    let prefix = unique_prefix();
    let _first = TestApp::spawn_on(
        StoreKind::Redis,
        &prefix,
        &[("JWT_ALGORITHM", "EdDSA"), ("KEY_ENCRYPTION_KEY", KEK)],
    )
    .await;
    let err = start_error(&[
        ("JWT_SECRET", SECRET),
        ("API_PASSWORD", ADMIN_PASSWORD),
        ("JWT_ALGORITHM", "EdDSA"),
        ("KEY_ENCRYPTION_KEY", OTHER_KEK),
        ("REDIS_URL", &redis_url()),
        ("REDIS_KEY_PREFIX", &prefix),
        ("MFA_ENCRYPTION_KEY", MFA_KEY),
    ])
    .await;
    assert!(err.contains("KEY_ENCRYPTION_KEY"), "{err}");
    let missing = AuthConfig::from_pairs([
        ("JWT_SECRET", SECRET),
        ("API_PASSWORD", ADMIN_PASSWORD),
        ("JWT_ALGORITHM", "EdDSA"),
        ("REDIS_URL", &redis_url()),
        ("MFA_ENCRYPTION_KEY", MFA_KEY),
    ])
    .err()
    .map(|e| e.vars());
    assert_eq!(missing, Some(vec!["KEY_ENCRYPTION_KEY"]));
}
