//! Rotating `JWT_SECRET`: tokens signed with a listed previous secret keep working until they expire;
//! dropping the secret from the list ends them.

use crate::helpers::*;

const OLD: &str = "the-old-secret-that-signed-yesterdays-tokens";

#[tokio::test]
async fn a_token_signed_with_a_previous_secret_works_until_that_secret_is_dropped() {
    let prefix = unique_prefix();
    let before = TestApp::spawn_on(StoreKind::Redis, &prefix, &[("JWT_SECRET", OLD)]).await;
    let (access, refresh) = before.login_tokens().await;
    assert_eq!(claims_of(&access)["iat"], claims_of(&refresh)["iat"]);

    // Rotated: the new secret signs, the old one still verifies.
    let rotated = TestApp::spawn_on(StoreKind::Redis, &prefix, &[("JWT_PREVIOUS_SECRETS", OLD)]).await;
    assert_eq!(rotated.get_me(&access).await.0, 200);
    let (status, body) = rotated.post_refresh(&refresh).await;
    assert_eq!(status, 200, "{body}");
    let (new_access, _) = tokens(&body);
    // `claims_of` reads the middle segment: here, the header.
    let header = claims_of(&format!("x.{}.y", new_access.split('.').next().unwrap()));
    assert_eq!(
        header["kid"],
        kid(SECRET),
        "new tokens carry the new secret's kid"
    );
    let old_header = claims_of(&format!("x.{}.y", access.split('.').next().unwrap()));
    assert_eq!(old_header["kid"], kid(OLD));

    // Dropped: the old tokens are refused, the new ones are not.
    let dropped = TestApp::spawn_on(StoreKind::Redis, &prefix, &[]).await;
    let (status, body) = dropped.get_me(&access).await;
    assert_eq!((status, codigo(&body)), (401, "TOKEN_INVALID"));
    assert_eq!(dropped.get_me(&new_access).await.0, 200);
}

/// The `kid`s of the published key set, sorted.
async fn published_kids(app: &TestApp) -> Vec<String> {
    let (_, set) = crate::jwks::jwks(app).await;
    let mut kids: Vec<String> = set["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect();
    kids.sort();
    kids
}

#[tokio::test]
async fn with_oauth_on_a_rotated_secret_still_opens_the_id_token_keys_sealed_under_the_old_one() {
    // HS256 access tokens, the OpenID Provider on, no KEY_ENCRYPTION_KEY: the ID-token keys are
    // sealed under a key derived from JWT_SECRET.
    let prefix = unique_prefix();
    let issuer = ("JWT_ISSUER", "http://localhost:8000");
    let before = TestApp::spawn_on(StoreKind::Redis, &prefix, &[("JWT_SECRET", OLD), issuer]).await;
    let kids = published_kids(&before).await;
    assert!(!kids.is_empty());

    // Rotated (the old secret listed as previous): it starts, and opens and publishes the same keys.
    let rotated = TestApp::spawn_on(
        StoreKind::Redis,
        &prefix,
        &[("JWT_PREVIOUS_SECRETS", OLD), issuer],
    )
    .await;
    assert_eq!(published_kids(&rotated).await, kids);

    // The old secret dropped too soon: the start stops, naming JWT_SECRET (not a variable never set).
    let err = start_error(&[
        ("JWT_SECRET", SECRET),
        ("API_PASSWORD", ADMIN_PASSWORD),
        issuer,
        ("REDIS_URL", &redis_url()),
        ("REDIS_KEY_PREFIX", &prefix),
        ("MFA_ENCRYPTION_KEY", MFA_KEY),
    ])
    .await;
    assert!(
        err.contains("JWT_SECRET") && err.contains("JWT_PREVIOUS_SECRETS"),
        "{err}"
    );
}
