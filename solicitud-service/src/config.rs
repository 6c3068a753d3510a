//! The solicitud service's settings: the shared ones (JWT verification, store, logging), the revocation
//! feed's ([`shared::config::VERIFIER`]) and its listen address, declared in [`SOLICITUD`]. It needs no
//! user or password: it never logs anyone in.

use std::net::SocketAddr;

use shared::config::{
    CommonConfig, ConfigErrors, FromVars, Kind, RawVars, Reader, VarSpec, VerifierConfig, WhenUnset,
};

shared::declare_vars! {
    /// What the solicitud service reads besides [`shared::config::COMMON`].
    pub const SOLICITUD;
    SOLICITUD_BIND_ADDR: Kind::Address, WhenUnset::Default("0.0.0.0:8002"),
        "Where solicitud-service listens.";
}

/// Every variable the solicitud service reads: the shared ones, the feed's, then its own.
pub fn variables() -> impl Iterator<Item = &'static VarSpec> {
    shared::config::COMMON
        .iter()
        .chain(shared::config::VERIFIER)
        .chain(SOLICITUD)
}

#[derive(Debug, Clone)]
pub struct SolicitudConfig {
    pub common: CommonConfig,
    /// Whether and how it follows the revocation feed.
    pub verifier: VerifierConfig,
    pub bind_addr: SocketAddr,
}

impl FromVars for SolicitudConfig {
    /// Reads [`variables`], every problem reported at once.
    fn from_vars(vars: &RawVars) -> Result<Self, ConfigErrors> {
        let mut r = Reader::new(vars);
        let common = CommonConfig::read(&mut r);
        let verifier = VerifierConfig::read(&mut r, common.jwt.algorithm);
        let bind_addr = r
            .address(&SOLICITUD_BIND_ADDR)
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
        r.finish(Self {
            common,
            verifier,
            bind_addr,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn the_default_address_is_port_8002() {
        let c = SolicitudConfig::from_pairs([("JWT_SECRET", SECRET)]).ok();
        assert_eq!(c.map(|c| c.bind_addr.port()), Some(8002));
    }

    #[test]
    fn the_feed_is_on_and_fails_closed_after_five_seconds_by_default() {
        use shared::revocation::feed::WhenStale;
        let c = SolicitudConfig::from_pairs([("JWT_SECRET", SECRET)]).unwrap();
        assert!(c.verifier.feed_enabled);
        assert_eq!(c.verifier.feed.max_staleness.as_secs(), 5);
        assert_eq!(c.verifier.feed.when_stale, WhenStale::FailClosed);
        let c = SolicitudConfig::from_pairs([
            ("JWT_SECRET", SECRET),
            ("REVOCATION_FEED_WHEN_STALE", "allow"),
            ("REVOCATION_FEED_MAX_STALENESS_SECONDS", "2"),
            ("REVOCATION_FEED_ENABLED", "false"),
        ])
        .unwrap();
        assert!(!c.verifier.feed_enabled);
        assert_eq!(c.verifier.feed.max_staleness.as_secs(), 2);
        assert_eq!(c.verifier.feed.when_stale, WhenStale::Allow);
    }

    #[test]
    fn bad_feed_settings_are_refused_naming_the_variable() {
        let e = SolicitudConfig::from_pairs([
            ("JWT_SECRET", SECRET),
            ("REVOCATION_FEED_WHEN_STALE", "ignore"),
            ("REVOCATION_FEED_MAX_STALENESS_SECONDS", "0"),
            ("REVOCATION_FEED_ENABLED", "yes"),
        ])
        .err();
        assert_eq!(
            e.map(|e| e.vars()),
            Some(vec![
                "REVOCATION_FEED_ENABLED",
                "REVOCATION_FEED_MAX_STALENESS_SECONDS",
                "REVOCATION_FEED_WHEN_STALE"
            ])
        );
    }

    #[test]
    fn a_bad_address_is_reported_with_the_shared_problems() {
        let e = SolicitudConfig::from_pairs([("SOLICITUD_BIND_ADDR", "port 80")]).err();
        assert_eq!(
            e.map(|e| e.vars()),
            Some(vec!["JWT_SECRET", "SOLICITUD_BIND_ADDR"])
        );
    }
}
