//! The all-in-one binary's settings: everything the auth service reads (which includes everything
//! the solicitud service reads, [`shared::config::COMMON`]), and its own listen address, declared in
//! [`ALL_IN_ONE`]. The services' own bind addresses are not used. Every problem is reported at once.

use std::net::SocketAddr;

use auth_service::config::AuthConfig;
use shared::config::{ConfigErrors, FromVars, Kind, RawVars, Reader, VarSpec, WhenUnset};
use solicitud_service::config::SolicitudConfig;

shared::declare_vars! {
    /// What the all-in-one binary reads besides the auth service's variables.
    pub const ALL_IN_ONE;
    ALL_IN_ONE_BIND_ADDR: Kind::Address, WhenUnset::Default("0.0.0.0:8000"),
        "Where the all-in-one binary (both services in one process, routed like the gateway) listens.";
}

/// Every variable the all-in-one binary reads: the auth service's, then its own.
pub fn variables() -> impl Iterator<Item = &'static VarSpec> {
    auth_service::config::variables().chain(ALL_IN_ONE)
}

/// `vars` with `JWT_ISSUER` set to `http://localhost:<port of ALL_IN_ONE_BIND_ADDR>` when it is unset
/// or empty: one command runs an OpenID Provider whose issuer is where a browser on this machine
/// reaches it, so the OAuth 2.0 endpoints are on out of the box. An issuer set by the operator stands.
fn with_default_issuer(vars: &RawVars) -> RawVars {
    let mut vars = vars.clone();
    if vars.get("jwt_issuer").is_none_or(|v| v.trim().is_empty()) {
        let port = vars
            .get("all_in_one_bind_addr")
            .and_then(|a| a.parse::<SocketAddr>().ok())
            .map_or(8000, |a| a.port());
        vars.insert("jwt_issuer".into(), format!("http://localhost:{port}"));
    }
    vars
}

/// The demo OpenID Connect client of the one-command mode (a public client, `demo`, redirecting to
/// `http://localhost:3000/callback`), applied when `CLIENTS_FILE` is unset.
pub const DEMO_CLIENTS: &str = include_str!("../../deploy/demo-clients.toml");

/// Both services' settings, from one environment.
#[derive(Debug, Clone)]
pub struct AllInOneConfig {
    pub auth: AuthConfig,
    /// The shared settings of `auth`; its bind address is unused.
    pub solicitud: SolicitudConfig,
    pub bind_addr: SocketAddr,
}

impl FromVars for AllInOneConfig {
    /// Reads [`variables`], every problem reported at once.
    fn from_vars(vars: &RawVars) -> Result<Self, ConfigErrors> {
        let vars = &with_default_issuer(vars);
        let auth = AuthConfig::from_vars(vars);
        let mut r = Reader::new(vars);
        let bind_addr = r
            .address(&ALL_IN_ONE_BIND_ADDR)
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
        match (auth, r.finish(bind_addr)) {
            (Ok(mut auth), Ok(bind_addr)) => Ok(Self {
                solicitud: SolicitudConfig {
                    common: auth.common.clone(),
                    // Revocations are checked in this process's own store: no feed to follow.
                    verifier: shared::config::VerifierConfig {
                        feed_enabled: false,
                        feed_redis_url: None,
                        feed: Default::default(),
                        // Tokens verify with the auth half's own keys (System::build).
                        public_keys: None,
                    },
                    bind_addr,
                },
                auth: {
                    if auth.clients_file.is_none() {
                        auth.builtin_clients = Some(DEMO_CLIENTS);
                    }
                    auth
                },
                bind_addr,
            }),
            (auth, own) => {
                let mut errors = auth.err().map(|e| e.0).unwrap_or_default();
                errors.extend(own.err().map(|e| e.0).unwrap_or_default());
                Err(ConfigErrors(errors))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn its_issuer_is_where_it_listens_unless_one_is_set() {
        let issuer = |pairs: &[(&str, &str)]| {
            AllInOneConfig::from_pairs(
                [
                    ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
                    ("API_PASSWORD", "a long enough password 42"),
                ]
                .iter()
                .chain(pairs)
                .copied(),
            )
            .map(|c| c.auth.common.jwt.issuer)
            .ok()
        };
        assert_eq!(issuer(&[]).as_deref(), Some("http://localhost:8000"));
        assert_eq!(
            issuer(&[("ALL_IN_ONE_BIND_ADDR", "127.0.0.1:9100")]).as_deref(),
            Some("http://localhost:9100")
        );
        assert_eq!(
            issuer(&[("JWT_ISSUER", "auth-service")]).as_deref(),
            Some("auth-service")
        );
    }

    #[test]
    fn it_listens_on_port_8000_by_default_with_the_auth_services_settings() {
        let c = AllInOneConfig::from_pairs([("JWT_SECRET", SECRET), ("API_PASSWORD", "pw")]).ok();
        assert_eq!(
            c.as_ref().map(|c| c.bind_addr.to_string()),
            Some("0.0.0.0:8000".into())
        );
        assert_eq!(c.as_ref().map(|c| c.auth.api_user.as_str()), Some("api_user"));
        assert_eq!(
            c.as_ref().map(|c| c.solicitud.common.jwt.audience.as_str()),
            Some("solicitud-transporte-api")
        );
    }

    #[test]
    fn its_own_problems_come_after_the_auth_services_all_at_once() {
        let e =
            AllInOneConfig::from_pairs([("ALL_IN_ONE_BIND_ADDR", "port 8000"), ("MFA_VALID_WINDOW", "11")]);
        assert_eq!(
            e.err().map(|e| e.vars()),
            Some(vec![
                "JWT_SECRET",
                "API_PASSWORD",
                "MFA_VALID_WINDOW",
                "ALL_IN_ONE_BIND_ADDR"
            ])
        );
    }

    #[test]
    fn production_rules_hold_here_too() {
        let e = AllInOneConfig::from_pairs([
            ("JWT_SECRET", SECRET),
            ("API_PASSWORD", "short"),
            ("APP_ENV", "production"),
        ]);
        assert_eq!(e.err().map(|e| e.vars()), Some(vec!["REDIS_URL", "API_PASSWORD"]));
    }

    #[test]
    fn every_variable_is_declared_once() {
        let names: std::collections::BTreeSet<&str> = variables().map(|v| v.name).collect();
        assert_eq!(names.len(), variables().count());
        assert!(names.contains("ALL_IN_ONE_BIND_ADDR") && names.contains("API_PASSWORD"));
    }
}
