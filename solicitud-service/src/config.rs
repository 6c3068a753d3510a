//! The solicitud service's settings: the shared ones (JWT verification, store, logging) and its
//! listen address. It needs no user or password: it never logs anyone in.

use std::net::SocketAddr;

use shared::config::{parse_var, CommonConfig, ConfigError, RawVars};

#[derive(Debug, Clone)]
pub struct SolicitudConfig {
    pub common: CommonConfig,
    pub bind_addr: SocketAddr,
}

impl SolicitudConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&shared::config::env_vars())
    }

    pub fn from_pairs<I, K, V>(pairs: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self::from_vars(&shared::config::from_pairs(pairs))
    }

    pub fn from_vars(vars: &RawVars) -> Result<Self, ConfigError> {
        Ok(Self {
            common: CommonConfig::from_vars(vars)?,
            bind_addr: parse_var(
                vars,
                "SOLICITUD_BIND_ADDR",
                SocketAddr::from(([0, 0, 0, 0], 8002)),
            )?,
        })
    }
}
