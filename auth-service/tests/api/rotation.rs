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
