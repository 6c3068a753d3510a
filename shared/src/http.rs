//! The warp filters both services build their routes from: state, size-limited JSON bodies, the
//! Bearer access token (and whether it still stands), and the headers every response carries.
//!
//! These filters reject with [`ApiError`] (a custom rejection) only after the path and method have
//! matched, so a wrong path is still reported as a wrong path by [`crate::rejection::recover`].

use std::convert::Infallible;
use std::sync::Arc;

use bytes::{Buf, BufMut, BytesMut};
use futures::{Stream, StreamExt};
use serde::de::DeserializeOwned;
use warp::http::header::{HeaderMap, HeaderValue};
use warp::{Filter, Rejection};

use std::net::IpAddr;

use ipnet::IpNet;

use crate::claims::{AccessClaims, TokenKind};
use crate::error::ApiError;
use crate::jwks::AccessVerifier;
use crate::revocation::SharedRevocationCheck;
use crate::token::TokenError;
use crate::wire::{BodyDeadline, PeerAddr, BODY_LIMIT, BODY_READ_TIMEOUT};

/// Hands a clone of `state` to the handler; state is a cheap handle with an `Arc` inside.
pub fn with_state<T: Clone + Send + Sync>(
    state: T,
) -> impl Filter<Extract = (T,), Error = Infallible> + Clone {
    warp::any().map(move || state.clone())
}

/// The body as JSON of type `T`, at most [`BODY_LIMIT`] bytes whether or not `Content-Length` is sent.
///
/// - over the limit: 413 PAYLOAD_TOO_LARGE;
/// - no `application/json` content type, or not JSON: 400 BAD_REQUEST;
/// - JSON with a missing or mistyped field: 422 VALIDATION_ERROR naming the field.
pub fn json_body<T: DeserializeOwned + Send>() -> impl Filter<Extract = (T,), Error = Rejection> + Clone {
    json_bytes().and_then(|bytes: Result<BytesMut, ApiError>| async move {
        bytes
            .and_then(|b| parse_json::<T>(&b))
            .map_err(warp::reject::custom)
    })
}

/// The raw body of a JSON request, size-limited and content-type-checked, as a value rather than a
/// rejection: for endpoints that answer errors in an envelope of their own.
pub fn json_bytes() -> impl Filter<Extract = (Result<BytesMut, ApiError>,), Error = Rejection> + Clone {
    optional_header("content-length")
        .and(optional_header("content-type"))
        .and(warp::ext::optional::<BodyDeadline>())
        .and(warp::body::stream())
        .then(
            |length: Option<HeaderValue>,
             kind: Option<HeaderValue>,
             deadline: Option<BodyDeadline>,
             body| async move {
                let deadline = deadline.map_or(BODY_READ_TIMEOUT, |d| d.0);
                let bytes = read_limited(length.as_ref(), body, deadline).await?;
                check_json_content_type(kind.as_ref())?;
                Ok(bytes)
            },
        )
}

/// The raw body of any request, size-limited and with the deadline of every body, and its
/// `Content-Type`: for endpoints that speak another format than the envelope (the OAuth 2.0 ones take
/// forms and answer RFC 6749 errors).
pub fn raw_body(
) -> impl Filter<Extract = (Option<HeaderValue>, Result<BytesMut, ApiError>), Error = Rejection> + Clone {
    optional_header("content-length")
        .and(optional_header("content-type"))
        .and(warp::ext::optional::<BodyDeadline>())
        .and(warp::body::stream())
        .then(
            |length: Option<HeaderValue>,
             kind: Option<HeaderValue>,
             deadline: Option<BodyDeadline>,
             body| async move {
                let deadline = deadline.map_or(BODY_READ_TIMEOUT, |d| d.0);
                (kind, read_limited(length.as_ref(), body, deadline).await)
            },
        )
        .untuple_one()
}

/// One request header's value, if present: a reference-counted copy of that value only (not the
/// whole header map).
pub fn optional_header(
    name: &'static str,
) -> impl Filter<Extract = (Option<HeaderValue>,), Error = Infallible> + Clone {
    warp::header::value(name)
        .map(Some)
        .or(warp::any().map(|| None))
        .unify()
}

async fn read_limited<S, B>(
    content_length: Option<&HeaderValue>,
    body: S,
    deadline: std::time::Duration,
) -> Result<BytesMut, ApiError>
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let declared = content_length
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > BODY_LIMIT) {
        return Err(ApiError::PayloadTooLarge);
    }
    let mut buf = BytesMut::with_capacity(declared.unwrap_or(0).min(BODY_LIMIT) as usize);
    let read = async {
        let mut body = std::pin::pin!(body);
        while let Some(chunk) = body.next().await {
            let chunk = chunk
                .map_err(|_| ApiError::BadRequest("No se pudo leer el cuerpo de la solicitud.".into()))?;
            if (buf.len() + chunk.remaining()) as u64 > BODY_LIMIT {
                return Err(ApiError::PayloadTooLarge);
            }
            buf.put(chunk);
        }
        Ok(())
    };
    tokio::time::timeout(deadline, read)
        .await
        .map_err(|_| ApiError::RequestTimeout)??;
    Ok(buf)
}

fn check_json_content_type(content_type: Option<&HeaderValue>) -> Result<(), ApiError> {
    let is_json = content_type
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("application/json")
        })
        .unwrap_or(false);
    if is_json {
        Ok(())
    } else {
        Err(ApiError::BadRequest(
            "El cuerpo debe ser JSON con Content-Type: application/json.".into(),
        ))
    }
}

/// Why a body did not parse into the request type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonError {
    /// Not exactly one JSON document in UTF-8 (two documents, trailing garbage, invalid UTF-8).
    NotJson,
    /// A required field is absent.
    Missing(String),
    /// A field appears twice.
    Duplicate(String),
    /// A field (or the whole body, `body`) has the wrong type or value; with the parser's reason.
    Invalid { field: String, reason: String },
}

/// Parses a request body into `T`. A body that is not exactly one JSON document is
/// [`JsonError::NotJson`], whatever its fields; any other failure is about a field, named by its path.
/// A good body is read once; a refused one a second time, to tell the two apart.
pub fn parse_json_fields<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, JsonError> {
    let text = std::str::from_utf8(bytes).map_err(|_| JsonError::NotJson)?;
    // One pass for a good body; only a refused one is read again, to tell "not JSON" (400) from "JSON
    // of the wrong shape" (422).
    let mut de = serde_json::Deserializer::from_str(text);
    let refused = match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(value) => return de.end().map(|()| value).map_err(|_| JsonError::NotJson),
        Err(refused) => refused,
    };
    serde_json::from_str::<serde::de::IgnoredAny>(text).map_err(|_| JsonError::NotJson)?;
    Err(field_error(refused))
}

/// What a JSON document of the wrong shape got wrong, named by the field's path.
fn field_error(e: serde_path_to_error::Error<serde_json::Error>) -> JsonError {
    let path = e.path().to_string();
    let message = e.into_inner().to_string();
    let message = message.split(" at line ").next().unwrap_or(&message).to_string();
    let named = |prefix: &str| {
        message
            .strip_prefix(prefix)
            .and_then(|rest| rest.split('`').next())
            .map(|field| {
                if path == "." {
                    field.to_string()
                } else {
                    format!("{path}.{field}")
                }
            })
    };
    if let Some(field) = named("missing field `") {
        JsonError::Missing(field)
    } else if let Some(field) = named("duplicate field `") {
        JsonError::Duplicate(field)
    } else {
        let field = if path == "." { "body".to_string() } else { path };
        JsonError::Invalid {
            field,
            reason: message,
        }
    }
}

/// Parses JSON: 400 BAD_REQUEST when the body is not one JSON document, 422 VALIDATION_ERROR naming
/// the field when it is JSON of the wrong shape.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    parse_json_fields(bytes).map_err(|e| match e {
        JsonError::NotJson => ApiError::BadRequest("El cuerpo no es JSON válido.".into()),
        JsonError::Missing(field) => {
            let detalle = format!("Falta el campo obligatorio '{field}'.");
            ApiError::validation(&field, detalle)
        }
        JsonError::Duplicate(field) => {
            let detalle = format!("El campo '{field}' aparece más de una vez.");
            ApiError::validation(&field, detalle)
        }
        JsonError::Invalid { field, reason } if field == "body" => {
            ApiError::validation("body", format!("El cuerpo no tiene la forma esperada: {reason}."))
        }
        JsonError::Invalid { field, reason } => {
            let detalle = format!("El campo '{field}' no es válido: {reason}.");
            ApiError::validation(&field, detalle)
        }
    })
}

/// The raw token of an `Authorization: Bearer <token>` header, or 401 TOKEN_MISSING.
/// Reads that one header (no copy of the others): this runs on every authenticated request.
pub fn bearer_token() -> impl Filter<Extract = (String,), Error = Rejection> + Clone {
    warp::header::value("authorization")
        .map(Some)
        .or(warp::any().map(|| None))
        .unify()
        .and_then(|value: Option<HeaderValue>| async move {
            value
                .as_ref()
                .and_then(parse_bearer)
                .map(str::to_owned)
                .ok_or_else(|| warp::reject::custom(ApiError::TokenMissing))
        })
}

/// `Bearer <token>`, the scheme case-insensitive; anything else is "no bearer token".
pub fn parse_bearer(value: &HeaderValue) -> Option<&str> {
    let value = value.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Maps a verification failure to the contract's error for a token of `kind`.
pub fn token_error(kind: TokenKind, err: TokenError) -> ApiError {
    match err {
        TokenError::Expired => ApiError::TokenExpired(kind),
        TokenError::NoKeys => ApiError::ServiceUnavailable(Box::new(TokenError::NoKeys)),
        TokenError::Invalid(reason) => {
            tracing::debug!(reason, kind = kind.as_str(), "token refused");
            ApiError::TokenInvalid
        }
    }
}

/// The verified claims of the request's access token (signature and claims only, no store).
///
/// This is all a backend needs to trust the auth service's tokens:
///
/// ```
/// use std::sync::Arc;
/// use shared::{http::access_claims, AccessClaims, SystemClock, TokenCodec};
/// use warp::Filter;
///
/// let settings = shared::token::test_settings("a-secret-of-at-least-thirty-two-bytes!");
/// let codec = Arc::new(TokenCodec::new(&settings, Arc::new(SystemClock)));
/// let hello = warp::path!("hello")
///     .and(warp::get())
///     .and(access_claims(codec))
///     .map(|claims: AccessClaims| format!("hola, {}", claims.username));
/// # let _ = hello;
/// ```
///
/// It takes the codec, or an [`AccessVerifier`] (a backend that follows a JWKS, with its cache of
/// verified tokens).
pub fn access_claims(
    verifier: impl Into<AccessVerifier>,
) -> impl Filter<Extract = (AccessClaims,), Error = Rejection> + Clone {
    let verifier = verifier.into();
    bearer_token().and_then(move |token: String| {
        let verifier = verifier.clone();
        async move {
            verifier
                .verify(&token)
                .await
                .map(|claims| AccessClaims::clone(&claims))
                .map_err(|e| warp::reject::custom(token_error(TokenKind::Access, e)))
        }
    })
}

/// The verified claims of the request's access token that `revocations` says still stand:
/// [`access_claims`], then the revocation seam ([`crate::revocation`]): 401 TOKEN_REVOKED for a
/// revoked token, 503 SERVICE_UNAVAILABLE when the check cannot tell.
pub fn live_access_claims(
    verifier: impl Into<AccessVerifier>,
    revocations: SharedRevocationCheck,
) -> impl Filter<Extract = (AccessClaims,), Error = Rejection> + Clone {
    access_claims(verifier).and_then(move |claims: AccessClaims| {
        let revocations = revocations.clone();
        async move {
            match revocations.check(&claims).await {
                Ok(()) => Ok(claims),
                Err(e) => Err(warp::reject::custom(ApiError::from(e))),
            }
        }
    })
}

/// Turns a handler's result into a reply: handler errors are replies, never rejections.
pub fn into_reply(result: Result<warp::reply::Response, ApiError>) -> warp::reply::Response {
    result.unwrap_or_else(|e| e.to_response())
}

/// The client's address: the socket peer, or, when the peer is a trusted proxy, the first address in
/// `X-Forwarded-For` that is not a trusted proxy, read from the right (the hops a client cannot forge).
/// `0.0.0.0` when neither is known (in-process tests).
pub fn client_ip(trusted: Arc<[IpNet]>) -> impl Filter<Extract = (IpAddr,), Error = Infallible> + Clone {
    warp::ext::optional::<PeerAddr>()
        .and(
            warp::header::value("x-forwarded-for")
                .map(Some)
                .or(warp::any().map(|| None))
                .unify(),
        )
        .map(move |peer: Option<PeerAddr>, forwarded: Option<HeaderValue>| {
            let peer = peer.map_or(IpAddr::from([0, 0, 0, 0]), |p| p.0.ip());
            // Read as bytes: a client's garbage byte must not hide the hops the proxies appended.
            let forwarded = forwarded.map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
            resolve_client_ip(peer, forwarded.as_deref(), &trusted)
        })
}

/// See [`client_ip`].
pub fn resolve_client_ip(peer: IpAddr, forwarded: Option<&str>, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let Some(forwarded) = forwarded else {
        return peer;
    };
    let mut client = peer;
    for hop in forwarded.rsplit(',') {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) if is_trusted(&ip) => client = ip,
            Ok(ip) => return ip,
            // A garbled hop: nothing to its left can be trusted.
            Err(_) => return client,
        }
    }
    client
}

/// Headers every response carries: no caching (responses carry tokens and personal data) and no
/// content sniffing. Written once: the filters add them ([`security_headers`]), and so does the server
/// to the answers it gives before any filter runs.
pub fn security_header_map() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        warp::http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    headers.insert(warp::http::header::PRAGMA, HeaderValue::from_static("no-cache"));
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    headers
}

/// [`security_header_map`] added to a response, but for a `Cache-Control` its endpoint chose (the
/// public key set, which backends may cache): then neither that nor `Pragma` is touched.
pub fn add_security_headers(response: &mut warp::reply::Response) {
    static HEADERS: std::sync::OnceLock<HeaderMap> = std::sync::OnceLock::new();
    let chose_caching = response.headers().contains_key(warp::http::header::CACHE_CONTROL);
    for (name, value) in HEADERS.get_or_init(security_header_map) {
        let caching = name == warp::http::header::CACHE_CONTROL || name == warp::http::header::PRAGMA;
        if !(caching && chose_caching) {
            response.headers_mut().insert(name, value.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Login {
        username: String,
        password: String,
    }

    fn codigo(e: ApiError) -> &'static str {
        e.catalogue().2
    }

    #[test]
    fn parse_json_tells_syntax_from_fields() {
        assert_eq!(
            parse_json::<Login>(b"{not json").err().map(codigo),
            Some("BAD_REQUEST")
        );
        assert_eq!(parse_json::<Login>(b"").err().map(codigo), Some("BAD_REQUEST"));
        assert_eq!(
            parse_json::<Login>(br#"{"username":"a","password":"b"} trailing"#)
                .err()
                .map(codigo),
            Some("BAD_REQUEST")
        );
        match parse_json::<Login>(br#"{"username":"a"}"#) {
            Err(ApiError::Validation { field, .. }) => assert_eq!(field, "password"),
            other => panic!("expected a validation error, got {other:?}"),
        }
        match parse_json::<Login>(br#"{"username":5,"password":"x"}"#) {
            Err(ApiError::Validation { field, detalle }) => {
                assert_eq!(field, "username");
                assert!(detalle.contains("username"));
            }
            other => panic!("expected a validation error, got {other:?}"),
        }
        assert!(parse_json::<Login>(br#"{"username":"a","password":"b"}"#).is_ok());
    }

    #[test]
    fn a_body_that_is_not_one_json_document_is_a_400_whatever_its_fields() {
        for body in [
            &br#"{"a":1}{"b":2}"#[..],
            br#"{"username":"a","password":"b"}{"x":1}"#,
            b"{\"username\":\"a\",\"password\":\"b\",\"x\":\"\xff\xfe\"}",
            b"{\"x\":\"\xc3\"}",
            b"[1] 2",
            // A field of the wrong type before the syntax error: still not JSON, not a field error.
            br#"{"username":5,"password":"b"} trailing"#,
            br#"{"username":5,"password":"b""#,
        ] {
            assert_eq!(
                parse_json::<Login>(body).err().map(codigo),
                Some("BAD_REQUEST"),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "lowercase")]
    enum Estado {
        Aprobada,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct EstadoBody {
        estado: Estado,
    }

    #[test]
    fn valid_json_of_the_wrong_type_or_value_is_a_422_naming_the_field() {
        for body in [
            &br#"{"estado":null}"#[..],
            br#"{"estado":3}"#,
            br#"{"estado":"pendiente"}"#,
            br#"{"estado":{"x":1}}"#,
        ] {
            match parse_json::<EstadoBody>(body) {
                Err(ApiError::Validation { field, .. }) => assert_eq!(field, "estado"),
                other => panic!(
                    "{}: expected 422 on estado, got {other:?}",
                    String::from_utf8_lossy(body)
                ),
            }
        }
        match parse_json::<Login>(br#"{"username":"a","username":"b","password":"c"}"#) {
            Err(ApiError::Validation { field, detalle }) => {
                assert_eq!(field, "username");
                assert!(detalle.contains("más de una vez"), "{detalle}");
            }
            other => panic!("expected a duplicate-field error, got {other:?}"),
        }
        assert_eq!(
            parse_json_fields::<Login>(br#"[1,2]"#)
                .err()
                .map(|e| matches!(e, JsonError::Invalid { .. })),
            Some(true)
        );
    }

    #[test]
    fn the_client_ip_comes_from_forwarded_for_only_through_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap(), "127.0.0.1/32".parse().unwrap()];
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // An untrusted peer: its header is ignored.
        assert_eq!(
            resolve_client_ip(ip("203.0.113.9"), Some("1.2.3.4"), &trusted),
            ip("203.0.113.9")
        );
        // Through the gateway: the first untrusted hop from the right.
        assert_eq!(
            resolve_client_ip(ip("10.0.0.2"), Some("198.51.100.7"), &trusted),
            ip("198.51.100.7")
        );
        assert_eq!(
            resolve_client_ip(ip("10.0.0.2"), Some("6.6.6.6, 198.51.100.7, 10.0.0.5"), &trusted),
            ip("198.51.100.7"),
            "a spoofed leftmost entry is not believed"
        );
        assert_eq!(resolve_client_ip(ip("10.0.0.2"), None, &trusted), ip("10.0.0.2"));
        assert_eq!(
            resolve_client_ip(ip("10.0.0.2"), Some("garbage, 10.0.0.5"), &trusted),
            ip("10.0.0.5")
        );
        assert_eq!(
            resolve_client_ip(ip("127.0.0.1"), Some("10.0.0.9"), &trusted),
            ip("10.0.0.9")
        );
    }

    #[tokio::test]
    async fn a_garbage_byte_in_forwarded_for_does_not_hide_the_appended_hops() {
        let trusted: Arc<[IpNet]> = vec!["10.0.0.0/8".parse().unwrap()].into();
        let filter = client_ip(trusted);
        let ip = warp::test::request()
            .header(
                "x-forwarded-for",
                HeaderValue::from_bytes(b"\xff\xfe, 198.51.100.7").unwrap(),
            )
            .extension(PeerAddr("10.0.0.2:4000".parse().unwrap()))
            .filter(&filter)
            .await
            .unwrap();
        assert_eq!(ip, "198.51.100.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn bearer_parsing_is_strict_about_the_scheme_only() {
        let h = |s: &'static str| HeaderValue::from_static(s);
        assert_eq!(parse_bearer(&h("Bearer abc")), Some("abc"));
        assert_eq!(parse_bearer(&h("bearer abc")), Some("abc"));
        assert_eq!(parse_bearer(&h("Basic abc")), None);
        assert_eq!(parse_bearer(&h("Bearer ")), None);
        assert_eq!(parse_bearer(&h("Bearer")), None);
    }

    #[tokio::test]
    async fn json_body_limits_size_and_content_type() {
        let filter = json_body::<Login>();
        let big = vec![b' '; (BODY_LIMIT + 1) as usize];
        let r = warp::test::request()
            .method("POST")
            .header("content-type", "application/json")
            .body(big)
            .filter(&filter)
            .await;
        assert!(
            r.err()
                .and_then(|r| r.find::<ApiError>().map(|e| e.catalogue().2))
                == Some("PAYLOAD_TOO_LARGE")
        );

        let r = warp::test::request()
            .method("POST")
            .header("content-type", "text/plain")
            .body(r#"{"username":"a","password":"b"}"#)
            .filter(&filter)
            .await;
        assert!(
            r.err()
                .and_then(|r| r.find::<ApiError>().map(|e| e.catalogue().2))
                == Some("BAD_REQUEST")
        );

        let r = warp::test::request()
            .method("POST")
            .header("content-type", "application/json; charset=utf-8")
            .body(r#"{"username":"a","password":"b"}"#)
            .filter(&filter)
            .await;
        assert!(r.is_ok());
    }

    mod revocation_seam {
        use super::super::*;
        use crate::claims::Rol;
        use crate::revocation::{RevocationCheck, RevocationError, SignatureOnly};
        use crate::store::StoreError;
        use crate::SystemClock;
        use crate::TokenCodec;

        /// Answers as told: `None` stands, `Some(true)` revoked, `Some(false)` unavailable.
        struct Fixed(Option<bool>);

        #[async_trait::async_trait]
        impl RevocationCheck for Fixed {
            async fn check(&self, _claims: &AccessClaims) -> Result<(), RevocationError> {
                match self.0 {
                    None => Ok(()),
                    Some(true) => Err(RevocationError::Revoked),
                    Some(false) => Err(StoreError::Unavailable("down".into()).into()),
                }
            }
        }

        fn codec() -> Arc<TokenCodec> {
            let settings = crate::token::test_settings("a-secret-of-at-least-thirty-two-bytes!");
            Arc::new(TokenCodec::new(&settings, Arc::new(SystemClock)))
        }

        fn token(codec: &TokenCodec) -> String {
            let now = codec.now_secs();
            codec
                .sign(&AccessClaims {
                    sub: "1".into(),
                    jti: "j".into(),
                    sid: "s".into(),
                    iat: now,
                    nbf: now,
                    exp: now + 60,
                    iss: codec.issuer().into(),
                    aud: codec.audience().into(),
                    typ: TokenKind::Access,
                    username: "maria".into(),
                    email: "maria@example.com".into(),
                    rol: Some(Rol::Usuario),
                    client_id: None,
                    scope: None,
                })
                .unwrap()
        }

        async fn status_with(check: SharedRevocationCheck, bearer: Option<&str>) -> u16 {
            let codec = codec();
            let filter = live_access_claims(codec.clone(), check)
                .map(|c: AccessClaims| c.username)
                .recover(crate::rejection::recover);
            let token = token(&codec);
            let mut request = warp::test::request().path("/");
            if let Some(bearer) = bearer {
                let bearer = if bearer == "valid" { token.as_str() } else { bearer };
                request = request.header("authorization", format!("Bearer {bearer}"));
            }
            request.reply(&filter).await.status().as_u16()
        }

        #[tokio::test]
        async fn a_standing_token_passes_a_revoked_one_is_401_and_no_answer_is_503() {
            assert_eq!(status_with(Arc::new(Fixed(None)), Some("valid")).await, 200);
            assert_eq!(status_with(Arc::new(SignatureOnly), Some("valid")).await, 200);
            assert_eq!(status_with(Arc::new(Fixed(Some(true))), Some("valid")).await, 401);
            assert_eq!(
                status_with(Arc::new(Fixed(Some(false))), Some("valid")).await,
                503
            );
        }

        #[tokio::test]
        async fn the_check_is_asked_only_about_verified_tokens() {
            // A revoked verdict would be 401 too; a missing or bad token must not reach the check at all,
            // so a check that would answer 503 never turns a 401 into a 503.
            assert_eq!(status_with(Arc::new(Fixed(Some(false))), None).await, 401);
            assert_eq!(
                status_with(Arc::new(Fixed(Some(false))), Some("garbage")).await,
                401
            );
        }
    }
}
