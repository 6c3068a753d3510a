//! The solicitud service's settings: the shared ones (JWT verification, store, logging) and its
//! listen address, declared in [`SOLICITUD`]. It needs no user or password: it never logs anyone in.

use std::net::SocketAddr;

use shared::config::{CommonConfig, ConfigErrors, Kind, RawVars, Reader, VarSpec, WhenUnset};

shared::declare_vars! {
    /// What the solicitud service reads besides [`shared::config::COMMON`].
    pub const SOLICITUD;
    SOLICITUD_BIND_ADDR: Kind::Address, WhenUnset::Default("0.0.0.0:8002"),
        "Where solicitud-service listens.";
}

/// Every variable the solicitud service reads: the shared ones, then its own.
pub fn variables() -> impl Iterator<Item = &'static VarSpec> {
    shared::config::COMMON.iter().chain(SOLICITUD)
}

#[derive(Debug, Clone)]
pub struct SolicitudConfig {
    pub common: CommonConfig,
    pub bind_addr: SocketAddr,
}

impl SolicitudConfig {
    pub fn from_env() -> Result<Self, ConfigErrors> {
        Self::from_vars(&shared::config::env_vars())
    }

    pub fn from_pairs<I, K, V>(pairs: I) -> Result<Self, ConfigErrors>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self::from_vars(&shared::config::from_pairs(pairs))
    }

    /// Reads [`variables`], every problem reported at once.
    pub fn from_vars(vars: &RawVars) -> Result<Self, ConfigErrors> {
        let mut r = Reader::new(vars);
        let common = CommonConfig::read(&mut r);
        let bind_addr = r
            .address(&SOLICITUD_BIND_ADDR)
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
        r.finish(Self { common, bind_addr })
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
    fn a_bad_address_is_reported_with_the_shared_problems() {
        let e = SolicitudConfig::from_pairs([("SOLICITUD_BIND_ADDR", "port 80")]).err();
        assert_eq!(
            e.map(|e| e.vars()),
            Some(vec!["JWT_SECRET", "SOLICITUD_BIND_ADDR"])
        );
    }
}
