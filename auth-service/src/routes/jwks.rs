//! `GET /.well-known/jwks.json`: the public keys of the asymmetric access tokens (RFC 7517), for
//! backends to verify with (see [`crate::signing`]). Empty (`{"keys":[]}`) with an HMAC
//! `JWT_ALGORITHM`, whose tokens only `JWT_SECRET` verifies. Cacheable for `JWKS_CACHE_SECONDS`: a new
//! key is published that long before it signs.

use shared::routing::Endpoint;
use warp::http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use warp::reply::Response;
use warp::Filter;

use crate::app::App;

/// `GET /.well-known/jwks.json`
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "keys",
    responses(
        (status = 200, description = "The published public keys (RFC 7517): `kty`, `kid`, `alg`, `use`, and `crv`/`x`/`y` or `n`/`e`; never a private member. Empty with an HMAC algorithm.", content_type = "application/json")
    ))]
pub(super) fn jwks(app: App) -> Endpoint {
    let cache = HeaderValue::from_str(&format!("public, max-age={}", app.config.jwks_cache_secs))
        .unwrap_or_else(|_| HeaderValue::from_static("public, max-age=300"));
    Endpoint::of::<__path_jwks>(
        warp::path!(".well-known" / "jwks.json")
            .and(warp::get())
            .map(move || {
                let body = match &app.signing {
                    Some(keys) => keys.jwks().to_string(),
                    None => r#"{"keys":[]}"#.to_string(),
                };
                let mut response = Response::new(body.into());
                response
                    .headers_mut()
                    .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                response.headers_mut().insert(CACHE_CONTROL, cache.clone());
                response
            }),
    )
}
