//! The auth service's settings: the shared ones plus users, sessions, MFA and rate limits.
//! Read once at start; every error names its variable (see [`shared::config`]).

use std::net::SocketAddr;
use std::path::PathBuf;

use shared::config::{
    parse_positive, parse_var, var, AppEnv, CommonConfig, ConfigError, RawVars, Secret,
    DEV_PLACEHOLDER_PASSWORD,
};

/// Everything the auth service reads from its environment.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub common: CommonConfig,
    pub bind_addr: SocketAddr,
    /// The bootstrap administrator.
    pub api_user: String,
    pub api_password: Secret,
    pub api_user_email: String,
    /// More users, from a TOML file of `[[users]]` tables.
    pub users_file: Option<PathBuf>,
    /// How long the successor of a just-rotated refresh token is handed out again (0: never).
    pub refresh_retry_grace_secs: u64,
    /// No session outlives this, however often it is refreshed.
    pub session_absolute_timeout_secs: i64,
    pub mfa_issuer_name: String,
    pub mfa_valid_window: u8,
    /// Whether users may enrol in MFA (`MFA_ENABLED`, default true).
    pub mfa_enabled: bool,
    /// Encrypts TOTP secrets at rest; `None` with the embedded store means a per-process random key.
    pub mfa_encryption_key: Option<crate::sealing::MfaKey>,
    /// Proxies whose `X-Forwarded-For` is believed (addresses or CIDR ranges).
    pub trusted_proxies: std::sync::Arc<[ipnet::IpNet]>,
    pub rate_limit_login_max_failures: u64,
    pub rate_limit_login_window_secs: u64,
    pub rate_limit_ip_per_minute: u64,
    /// How many argon2 computations may run at once (each holds ~19 MiB).
    pub password_hash_concurrency: usize,
    /// The virtual operator of every user whose entry names none.
    pub default_virtual_operator: String,
    /// The `language` claim of gettoken tokens.
    pub saphety_language: String,
}

impl AuthConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&shared::config::env_vars())
    }

    /// For tests: settings from pairs, never from the process environment.
    pub fn from_pairs<I, K, V>(pairs: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self::from_vars(&shared::config::from_pairs(pairs))
    }

    pub fn from_vars(vars: &RawVars) -> Result<Self, ConfigError> {
        let mut common = CommonConfig::from_vars(vars)?;
        let bind_addr = parse_var(vars, "AUTH_BIND_ADDR", SocketAddr::from(([0, 0, 0, 0], 8001)))?;
        let api_user = var(vars, "API_USER").unwrap_or("api_user").to_string();
        crate::identity::Username::parse(&api_user).map_err(|e| ConfigError::new("API_USER", e))?;
        let api_password = var(vars, "API_PASSWORD").map(Secret::new).ok_or_else(|| {
            ConfigError::new(
                "API_PASSWORD",
                "is empty; set the bootstrap user's password in .env",
            )
        })?;
        if api_password.expose().chars().count() > crate::passwords::MAX_PASSWORD_CHARS {
            return Err(ConfigError::new("API_PASSWORD", "is longer than 128 characters"));
        }
        if api_password.expose() == DEV_PLACEHOLDER_PASSWORD {
            if common.app_env == AppEnv::Production {
                return Err(ConfigError::new(
                    "API_PASSWORD",
                    "is the placeholder from .env.example, refused with APP_ENV=production; choose a strong password",
                ));
            }
            common
                .warnings
                .push("API_PASSWORD is the placeholder from .env.example; change it before anyone else can reach this service".into());
        }
        let api_user_email = var(vars, "API_USER_EMAIL")
            .unwrap_or("api_user@example.com")
            .to_string();
        crate::identity::Email::parse(&api_user_email).map_err(|e| ConfigError::new("API_USER_EMAIL", e))?;

        let users_file = var(vars, "USERS_FILE").map(PathBuf::from);
        let refresh_retry_grace_secs = parse_var(vars, "JWT_REFRESH_RETRY_GRACE_SECONDS", 10u64)?;
        if refresh_retry_grace_secs > 300 {
            return Err(ConfigError::new(
                "JWT_REFRESH_RETRY_GRACE_SECONDS",
                "must be at most 300 seconds",
            ));
        }
        let hours = parse_positive(vars, "SESSION_ABSOLUTE_TIMEOUT_HOURS", 168)?;
        if hours > 24 * 366 {
            return Err(ConfigError::new(
                "SESSION_ABSOLUTE_TIMEOUT_HOURS",
                "must be at most a year",
            ));
        }
        let session_absolute_timeout_secs = (hours * 3600) as i64;

        let mfa_issuer_name = var(vars, "MFA_ISSUER_NAME").unwrap_or("ONI_Justicia").to_string();
        if mfa_issuer_name.contains(':') {
            return Err(ConfigError::new("MFA_ISSUER_NAME", "may not contain ':'"));
        }
        let mfa_valid_window: u8 = parse_var(vars, "MFA_VALID_WINDOW", 1u8)?;
        if mfa_valid_window > 10 {
            return Err(ConfigError::new(
                "MFA_VALID_WINDOW",
                "must be between 0 and 10 steps",
            ));
        }
        let mfa_enabled = parse_var(vars, "MFA_ENABLED", true)?;
        let mfa_encryption_key = var(vars, "MFA_ENCRYPTION_KEY")
            .map(crate::sealing::MfaKey::from_base64)
            .transpose()
            .map_err(|_| {
                ConfigError::new(
                    "MFA_ENCRYPTION_KEY",
                    "must be 32 random bytes in standard base64; generate one with `openssl rand -base64 32`",
                )
            })?;
        if mfa_enabled && mfa_encryption_key.is_none() && common.redis_url.is_some() {
            return Err(ConfigError::new(
                "MFA_ENCRYPTION_KEY",
                "is required with REDIS_URL, to encrypt TOTP secrets at rest; generate one with \
                 `openssl rand -base64 32` (or set MFA_ENABLED=false)",
            ));
        }

        let trusted_proxies = shared::config::parse_networks(vars, "TRUSTED_PROXIES")?;
        let default_virtual_operator = var(vars, "DEFAULT_VIRTUAL_OPERATOR")
            .unwrap_or("saphety")
            .to_string();
        let saphety_language = var(vars, "SAPHETY_LANGUAGE").unwrap_or("es-CO").to_string();
        let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let password_hash_concurrency =
            parse_positive(vars, "PASSWORD_HASH_CONCURRENCY", cpus as u64)? as usize;

        Ok(Self {
            common,
            bind_addr,
            api_user,
            api_password,
            api_user_email,
            users_file,
            refresh_retry_grace_secs,
            session_absolute_timeout_secs,
            mfa_issuer_name,
            mfa_valid_window,
            mfa_enabled,
            mfa_encryption_key,
            trusted_proxies,
            rate_limit_login_max_failures: parse_positive(vars, "RATE_LIMIT_LOGIN_MAX_FAILURES", 5)?,
            rate_limit_login_window_secs: parse_positive(vars, "RATE_LIMIT_LOGIN_WINDOW_SECONDS", 900)?,
            rate_limit_ip_per_minute: parse_positive(vars, "RATE_LIMIT_IP_PER_MINUTE", 120)?,
            password_hash_concurrency,
            default_virtual_operator,
            saphety_language,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn failing_var(extra: &[(&str, &str)]) -> &'static str {
        let mut pairs = vec![("JWT_SECRET", SECRET), ("API_PASSWORD", "correct horse")];
        pairs.extend_from_slice(extra);
        match AuthConfig::from_pairs(pairs) {
            Ok(_) => "accepted",
            Err(e) => e.var,
        }
    }

    #[test]
    fn defaults_are_the_contracts() {
        let c = AuthConfig::from_pairs([("JWT_SECRET", SECRET), ("API_PASSWORD", "pw")]).ok();
        let c = c.as_ref();
        assert_eq!(c.map(|c| c.api_user.as_str()), Some("api_user"));
        assert_eq!(c.map(|c| c.refresh_retry_grace_secs), Some(10));
        assert_eq!(c.map(|c| c.session_absolute_timeout_secs), Some(168 * 3600));
        assert_eq!(c.map(|c| c.bind_addr.port()), Some(8001));
        assert_eq!(c.map(|c| c.mfa_issuer_name.as_str()), Some("ONI_Justicia"));
    }

    #[test]
    fn an_empty_api_password_stops_start_up() {
        assert_eq!(failing_var(&[("API_PASSWORD", "")]), "API_PASSWORD");
    }

    #[test]
    fn the_placeholder_password_is_refused_in_production() {
        assert_eq!(
            failing_var(&[("API_PASSWORD", DEV_PLACEHOLDER_PASSWORD)]),
            "accepted"
        );
        assert_eq!(
            failing_var(&[
                ("API_PASSWORD", DEV_PLACEHOLDER_PASSWORD),
                ("APP_ENV", "production")
            ]),
            "API_PASSWORD"
        );
    }

    #[test]
    fn each_bad_value_names_its_variable() {
        for (var, bad) in [
            ("AUTH_BIND_ADDR", "not-an-address"),
            ("JWT_REFRESH_RETRY_GRACE_SECONDS", "-1"),
            ("SESSION_ABSOLUTE_TIMEOUT_HOURS", "0"),
            ("MFA_VALID_WINDOW", "many"),
            ("TRUSTED_PROXIES", "10.0.0.1,nope"),
            ("RATE_LIMIT_LOGIN_MAX_FAILURES", "0"),
            ("API_USER_EMAIL", "not-an-email"),
            ("API_USER", "has spaces"),
            ("MFA_ENCRYPTION_KEY", "c2hvcnQ="),
            ("MFA_ENABLED", "perhaps"),
            ("SAPHETY_TOKEN_EXP_MINUTES", "121"),
            ("SAPHETY_TOKEN_EXP_MINUTES", "0"),
        ] {
            assert_eq!(failing_var(&[(var, bad)]), var, "{var}={bad}");
        }
    }

    #[test]
    fn with_redis_the_mfa_key_is_required_unless_mfa_is_off() {
        assert_eq!(
            failing_var(&[("REDIS_URL", "redis://127.0.0.1")]),
            "MFA_ENCRYPTION_KEY"
        );
        assert_eq!(
            failing_var(&[("REDIS_URL", "redis://127.0.0.1"), ("MFA_ENABLED", "false")]),
            "accepted"
        );
        assert_eq!(
            failing_var(&[
                ("REDIS_URL", "redis://127.0.0.1"),
                (
                    "MFA_ENCRYPTION_KEY",
                    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
                )
            ]),
            "accepted"
        );
    }

    #[test]
    fn a_grace_of_zero_is_allowed() {
        assert_eq!(
            failing_var(&[("JWT_REFRESH_RETRY_GRACE_SECONDS", "0")]),
            "accepted"
        );
    }
}
