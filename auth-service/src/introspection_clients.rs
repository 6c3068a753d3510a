//! Introspection clients (RFC 7662 §2.1): who may ask `POST /auth/introspect`, by HTTP Basic with a
//! configured client id and secret (`INTROSPECTION_CLIENTS`).
//!
//! Secrets are not kept: only their HMAC-SHA256 under a key drawn at start, and a presented secret is
//! compared by its HMAC in constant time. An unknown client id costs the same HMAC and comparison as a
//! known one, so timing tells nothing about which ids exist. With no client configured, anyone may ask
//! (the behaviour before clients existed).

use std::collections::HashMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::Mac;
use rand::RngCore;
use shared::config::Secret;
use subtle::ConstantTimeEq;

type Digest = [u8; 32];

/// See the module doc.
pub(crate) struct IntrospectionClients {
    key: [u8; 32],
    clients: HashMap<String, Digest>,
    /// Compared against when the id is unknown, so both cases cost the same.
    decoy: Digest,
}

impl std::fmt::Debug for IntrospectionClients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntrospectionClients")
            .field("clients", &self.clients.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl IntrospectionClients {
    pub(crate) fn new(clients: &[(String, Secret)]) -> Self {
        let mut key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        let mut decoy = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut decoy);
        let mut this = Self {
            key,
            clients: HashMap::new(),
            decoy,
        };
        for (id, secret) in clients {
            let digest = this.digest(secret.expose().as_bytes());
            this.clients.insert(id.clone(), digest);
        }
        this
    }

    /// Whether clients must authenticate at all.
    pub(crate) fn required(&self) -> bool {
        !self.clients.is_empty()
    }

    fn digest(&self, secret: &[u8]) -> Digest {
        let mut mac = crate::sealing::hmac_sha256(&self.key);
        mac.update(secret);
        mac.finalize().into_bytes().into()
    }

    /// The client an `Authorization` header authenticates, if it does (`Basic base64(id:secret)`).
    pub(crate) fn authenticate(&self, authorization: Option<&[u8]>) -> Option<&str> {
        let (id, secret) = parse_basic(authorization?)?;
        let presented = self.digest(secret.as_bytes());
        let (name, expected) = match self.clients.get_key_value(id.as_str()) {
            Some((name, digest)) => (Some(name.as_str()), digest),
            None => (None, &self.decoy),
        };
        let equal: bool = presented.ct_eq(expected).into();
        name.filter(|_| equal)
    }
}

/// `Basic <base64(id:secret)>`, the scheme case-insensitive (RFC 7617); the id may not hold a colon.
pub(crate) fn parse_basic(value: &[u8]) -> Option<(String, String)> {
    let value = std::str::from_utf8(value).ok()?.trim();
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef0123";

    fn basic(id: &str, secret: &str) -> Vec<u8> {
        format!("Basic {}", STANDARD.encode(format!("{id}:{secret}"))).into_bytes()
    }

    #[test]
    fn only_a_configured_id_with_its_own_secret_authenticates() {
        let clients = IntrospectionClients::new(&[
            ("backend-a".into(), Secret::new(SECRET)),
            ("backend-b".into(), Secret::new(format!("{SECRET}b"))),
        ]);
        assert!(clients.required());
        assert_eq!(
            clients.authenticate(Some(&basic("backend-a", SECRET))),
            Some("backend-a")
        );
        assert_eq!(
            clients.authenticate(Some(
                b"basic YmFja2VuZC1hOjAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVmMDEyMw=="
            )),
            Some("backend-a"),
            "the scheme in any case"
        );
        assert_eq!(
            clients.authenticate(Some(&basic("backend-b", SECRET))),
            None,
            "another's secret"
        );
        assert_eq!(
            clients.authenticate(Some(&basic("backend-c", SECRET))),
            None,
            "unknown id"
        );
        assert_eq!(clients.authenticate(Some(&basic("backend-a", ""))), None);
        assert_eq!(clients.authenticate(Some(b"Bearer abc")), None);
        assert_eq!(clients.authenticate(Some(b"Basic !!!not-base64")), None);
        assert_eq!(clients.authenticate(Some(b"Basic Zm9v")), None, "no colon");
        assert_eq!(clients.authenticate(None), None);
    }

    #[test]
    fn with_no_client_configured_none_is_required_and_none_authenticates() {
        let clients = IntrospectionClients::new(&[]);
        assert!(!clients.required());
        assert_eq!(clients.authenticate(Some(&basic("x", SECRET))), None);
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let clients = IntrospectionClients::new(&[("backend-a".into(), Secret::new(SECRET))]);
        let shown = format!("{clients:?}");
        assert!(shown.contains("backend-a") && !shown.contains(SECRET), "{shown}");
    }
}
