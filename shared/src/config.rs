//! Typed settings, read once at start with envy from the environment (and `.env` when present), and
//! validated before anything listens.
//!
//! Every failure is a [`ConfigError`] naming the variable and saying how to fix it; `main` prints it on
//! one line and exits, never a panic trace. Tests build settings from an iterator of pairs
//! ([`CommonConfig::from_pairs`]) instead of touching the process environment.
//!
//! This module holds what both services read (JWT, store, logging); each service adds its own settings
//! with the same helpers ([`var`], [`parse_var`]).

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use jsonwebtoken::Algorithm;

/// The `JWT_SECRET` committed in `.env.example` so `cargo run` works on a fresh clone. Accepted with a
/// loud warning in development, refused when `APP_ENV=production`.
pub const DEV_PLACEHOLDER_SECRET: &str = "dev-only-insecure-jwt-secret-change-me-0123456789";

/// The seed's placeholder `API_PASSWORD`; refused in production like the secret above.
pub const DEV_PLACEHOLDER_PASSWORD: &str = "your-secure-password";

/// How a JWT secret is meant to be generated; quoted in every message about one.
pub const SECRET_HOWTO: &str = "generate one with `openssl rand -base64 48` \
(or `python3 -c \"import secrets; print(secrets.token_urlsafe(48))\"`) and set it in .env";

/// Clock leeway for `exp` and `nbf`: a few seconds, not jsonwebtoken's default of 60.
pub const JWT_LEEWAY_SECS: i64 = 5;

/// How long an MFA login challenge lives (the contract's five minutes).
pub const MFA_CHALLENGE_SECS: i64 = 300;

/// A configuration value that is wrong, with the variable it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub var: &'static str,
    pub message: String,
}

impl ConfigError {
    pub fn new(var: &'static str, message: impl Into<String>) -> Self {
        Self {
            var,
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration: {}: {}", self.var, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// A secret string whose `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself; call it only where the secret is used.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// `APP_ENV`: production refuses the development placeholders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    Development,
    Production,
}

/// `LOG_FORMAT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// The raw variables, as envy reads them (names lower-cased by envy). Everything is a string here so
/// that every parse error can name its variable in our words.
pub type RawVars = HashMap<String, String>;

/// Reads the environment (after `.env`, if present) through envy.
pub fn env_vars() -> RawVars {
    // A missing .env is normal; a malformed line in it is left to the variable checks that follow.
    let _ = dotenvy::dotenv();
    from_pairs(std::env::vars())
}

/// Collects pairs through envy into the raw map.
pub fn from_pairs<I, K, V>(pairs: I) -> RawVars
where
    I: IntoIterator<Item = (K, V)>,
    K: Into<String>,
    V: Into<String>,
{
    // Deserialising into a map of strings cannot fail: every value is a valid String.
    envy::from_iter(pairs.into_iter().map(|(k, v)| (k.into(), v.into()))).unwrap_or_default()
}

/// A variable's value by its upper-case name, with an empty value treated as unset.
pub fn var<'a>(vars: &'a RawVars, name: &str) -> Option<&'a str> {
    vars.get(&name.to_ascii_lowercase())
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
}

/// Parses a variable, or returns the default when it is unset.
pub fn parse_var<T: FromStr>(vars: &RawVars, name: &'static str, default: T) -> Result<T, ConfigError> {
    match var(vars, name) {
        None => Ok(default),
        Some(raw) => raw
            .parse()
            .map_err(|_| ConfigError::new(name, format!("`{raw}` is not a valid value"))),
    }
}

/// Parses a positive whole number, or returns the default.
pub fn parse_positive(vars: &RawVars, name: &'static str, default: u64) -> Result<u64, ConfigError> {
    let value: u64 = match var(vars, name) {
        None => default,
        Some(raw) => raw
            .parse()
            .map_err(|_| ConfigError::new(name, format!("`{raw}` is not a whole number")))?,
    };
    if value == 0 {
        return Err(ConfigError::new(name, "must be greater than zero"));
    }
    Ok(value)
}

/// A comma-separated list of IP addresses or CIDR ranges (`10.0.0.0/8`, `127.0.0.1`).
pub fn parse_networks(
    vars: &RawVars,
    name: &'static str,
) -> Result<std::sync::Arc<[ipnet::IpNet]>, ConfigError> {
    let mut nets = Vec::new();
    if let Some(list) = var(vars, name) {
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let net = item
                .parse::<ipnet::IpNet>()
                .or_else(|_| item.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    ConfigError::new(name, format!("`{item}` is not an IP address or CIDR range"))
                })?;
            nets.push(net);
        }
    }
    Ok(nets.into())
}

/// The JWT settings both services share.
#[derive(Debug, Clone)]
pub struct JwtSettings {
    /// Signs every new token.
    pub secret: Secret,
    /// Only verify, each found by its `kid`; for rotating `secret` without logging everyone out.
    pub previous_secrets: Vec<Secret>,
    pub algorithm: Algorithm,
    pub access_ttl_secs: i64,
    pub refresh_ttl_secs: i64,
    /// The life of a `/v2/auth/gettoken` access token (`SAPHETY_TOKEN_EXP_MINUTES`, at most 2 h). Both
    /// services read it: no access token may live longer than this or `access_ttl_secs`.
    pub saphety_ttl_secs: i64,
    pub issuer: String,
    pub audience: String,
}

/// What both services read: JWT, store and logging.
#[derive(Debug, Clone)]
pub struct CommonConfig {
    pub app_env: AppEnv,
    pub log_format: LogFormat,
    pub jwt: JwtSettings,
    /// `None`: the embedded in-process store.
    pub redis_url: Option<Secret>,
    pub redis_key_prefix: String,
    /// Things that are allowed but worth a loud line in the log once logging is up.
    pub warnings: Vec<String>,
}

impl CommonConfig {
    /// Reads and validates from the process environment (and `.env`).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&env_vars())
    }

    /// Reads and validates from pairs; what tests use.
    pub fn from_pairs<I, K, V>(pairs: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self::from_vars(&from_pairs(pairs))
    }

    pub fn from_vars(vars: &RawVars) -> Result<Self, ConfigError> {
        let mut warnings = Vec::new();
        let app_env = match var(vars, "APP_ENV").map(str::to_ascii_lowercase).as_deref() {
            None | Some("development") => AppEnv::Development,
            Some("production") => AppEnv::Production,
            Some(other) => {
                return Err(ConfigError::new(
                    "APP_ENV",
                    format!("`{other}` is not one of development, production"),
                ))
            }
        };
        let log_format = match var(vars, "LOG_FORMAT").map(str::to_ascii_lowercase).as_deref() {
            None | Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(ConfigError::new(
                    "LOG_FORMAT",
                    format!("`{other}` is not one of pretty, json"),
                ))
            }
        };

        let secret = parse_secret(vars, "JWT_SECRET")?
            .ok_or_else(|| ConfigError::new("JWT_SECRET", format!("is not set; {SECRET_HOWTO}")))?;
        if secret.expose() == DEV_PLACEHOLDER_SECRET {
            if app_env == AppEnv::Production {
                return Err(ConfigError::new(
                    "JWT_SECRET",
                    format!("is the development placeholder from .env.example, refused with APP_ENV=production; {SECRET_HOWTO}"),
                ));
            }
            warnings.push(
                "JWT_SECRET is the development placeholder from .env.example: anyone can forge tokens. \
                 Never use it outside a developer's machine (APP_ENV=production refuses it)."
                    .to_string(),
            );
        }
        let mut previous_secrets = Vec::new();
        if let Some(list) = var(vars, "JWT_PREVIOUS_SECRETS") {
            for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                previous_secrets.push(check_secret_len("JWT_PREVIOUS_SECRETS", item)?);
            }
        }

        let algorithm = match var(vars, "JWT_ALGORITHM").map(str::to_ascii_uppercase).as_deref() {
            None | Some("HS256") => Algorithm::HS256,
            Some("HS384") => Algorithm::HS384,
            Some("HS512") => Algorithm::HS512,
            Some(other) => {
                return Err(ConfigError::new(
                    "JWT_ALGORITHM",
                    format!("`{other}` is not allowed; use HS256, HS384 or HS512"),
                ))
            }
        };

        let access_ttl_secs = lifetime(
            vars,
            "JWT_ACCESS_TOKEN_EXP_VALUE",
            60,
            "JWT_ACCESS_TOKEN_EXP_UNIT",
            "minutes",
        )?;
        let refresh_ttl_secs = lifetime(
            vars,
            "JWT_REFRESH_TOKEN_EXP_VALUE",
            24,
            "JWT_REFRESH_TOKEN_EXP_UNIT",
            "hours",
        )?;
        if refresh_ttl_secs < access_ttl_secs {
            warnings.push(format!(
                "the refresh token lifetime ({refresh_ttl_secs} s) is shorter than the access token lifetime ({access_ttl_secs} s)"
            ));
        }

        let saphety_minutes = parse_positive(vars, "SAPHETY_TOKEN_EXP_MINUTES", 120)?;
        if saphety_minutes > 120 {
            return Err(ConfigError::new(
                "SAPHETY_TOKEN_EXP_MINUTES",
                "must be at most 120 (2 hours)",
            ));
        }

        let issuer = var(vars, "JWT_ISSUER").unwrap_or("auth-service").to_string();
        let audience = var(vars, "JWT_AUDIENCE")
            .unwrap_or("solicitud-transporte-api")
            .to_string();

        let redis_url = var(vars, "REDIS_URL").map(Secret::new);
        if let Some(url) = &redis_url {
            let u = url.expose();
            if !(u.starts_with("redis://") || u.starts_with("rediss://") || u.starts_with("unix://")) {
                return Err(ConfigError::new(
                    "REDIS_URL",
                    "must start with redis://, rediss:// or unix:// (leave it empty for the embedded store)",
                ));
            }
        } else if app_env == AppEnv::Production {
            warnings.push(
                "REDIS_URL is empty: using the embedded in-process store; state is lost on restart and \
                 not shared between replicas"
                    .to_string(),
            );
        }
        let redis_key_prefix = var(vars, "REDIS_KEY_PREFIX").unwrap_or("sta:").to_string();

        Ok(Self {
            app_env,
            log_format,
            jwt: JwtSettings {
                secret,
                previous_secrets,
                algorithm,
                access_ttl_secs,
                refresh_ttl_secs,
                saphety_ttl_secs: (saphety_minutes * 60) as i64,
                issuer,
                audience,
            },
            redis_url,
            redis_key_prefix,
            warnings,
        })
    }
}

fn parse_secret(vars: &RawVars, name: &'static str) -> Result<Option<Secret>, ConfigError> {
    match vars
        .get(&name.to_ascii_lowercase())
        .map(String::as_str)
        .filter(|v| !v.is_empty())
    {
        None => Ok(None),
        Some(raw) => check_secret_len(name, raw).map(Some),
    }
}

fn check_secret_len(name: &'static str, raw: &str) -> Result<Secret, ConfigError> {
    if raw.len() < 32 {
        return Err(ConfigError::new(
            name,
            format!(
                "is {} bytes long; at least 32 are required; {SECRET_HOWTO}",
                raw.len()
            ),
        ));
    }
    Ok(Secret::new(raw))
}

fn lifetime(
    vars: &RawVars,
    value_var: &'static str,
    default_value: u64,
    unit_var: &'static str,
    default_unit: &str,
) -> Result<i64, ConfigError> {
    let value = parse_positive(vars, value_var, default_value)?;
    let unit = var(vars, unit_var).unwrap_or(default_unit).to_ascii_lowercase();
    let per_unit: u64 = match unit.as_str() {
        "minutes" => 60,
        "hours" => 3600,
        other => {
            return Err(ConfigError::new(
                unit_var,
                format!("`{other}` is not a unit; use minutes or hours"),
            ))
        }
    };
    value
        .checked_mul(per_unit)
        .filter(|secs| *secs <= 366 * 24 * 3600)
        .and_then(|secs| i64::try_from(secs).ok())
        .ok_or_else(|| ConfigError::new(value_var, "is more than a year"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "0123456789abcdef0123456789abcdef";

    fn load(pairs: &[(&str, &str)]) -> Result<CommonConfig, ConfigError> {
        CommonConfig::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    fn failing_var(pairs: &[(&str, &str)]) -> &'static str {
        match load(pairs) {
            Ok(_) => "accepted",
            Err(e) => e.var,
        }
    }

    #[test]
    fn the_seed_defaults_apply() -> Result<(), ConfigError> {
        let c = load(&[("JWT_SECRET", GOOD)])?;
        assert_eq!(c.jwt.algorithm, Algorithm::HS256);
        assert_eq!(c.jwt.access_ttl_secs, 3600);
        assert_eq!(c.jwt.refresh_ttl_secs, 24 * 3600);
        assert_eq!(c.app_env, AppEnv::Development);
        assert!(c.redis_url.is_none());
        Ok(())
    }

    #[test]
    fn a_missing_secret_names_the_variable_and_says_how_to_generate_one() {
        let err = load(&[]).err();
        let err = err.as_ref();
        assert_eq!(err.map(|e| e.var), Some("JWT_SECRET"));
        assert!(err
            .map(|e| e.to_string())
            .unwrap_or_default()
            .contains("openssl rand"));
    }

    #[test]
    fn a_short_secret_is_refused() {
        assert_eq!(failing_var(&[("JWT_SECRET", "short")]), "JWT_SECRET");
        assert_eq!(failing_var(&[("JWT_SECRET", &GOOD[..31])]), "JWT_SECRET");
    }

    #[test]
    fn a_short_previous_secret_is_refused() {
        assert_eq!(
            failing_var(&[("JWT_SECRET", GOOD), ("JWT_PREVIOUS_SECRETS", "abc")]),
            "JWT_PREVIOUS_SECRETS"
        );
    }

    #[test]
    fn only_hmac_algorithms_are_allowed() {
        for bad in ["none", "RS256", "ES256", "HS1"] {
            assert_eq!(
                failing_var(&[("JWT_SECRET", GOOD), ("JWT_ALGORITHM", bad)]),
                "JWT_ALGORITHM"
            );
        }
        for good in ["HS256", "HS384", "HS512"] {
            assert_eq!(
                failing_var(&[("JWT_SECRET", GOOD), ("JWT_ALGORITHM", good)]),
                "accepted"
            );
        }
    }

    #[test]
    fn units_other_than_minutes_and_hours_are_refused() {
        assert_eq!(
            failing_var(&[("JWT_SECRET", GOOD), ("JWT_ACCESS_TOKEN_EXP_UNIT", "days")]),
            "JWT_ACCESS_TOKEN_EXP_UNIT"
        );
        assert_eq!(
            failing_var(&[("JWT_SECRET", GOOD), ("JWT_REFRESH_TOKEN_EXP_UNIT", "seconds")]),
            "JWT_REFRESH_TOKEN_EXP_UNIT"
        );
    }

    #[test]
    fn zero_or_garbage_lifetimes_are_refused() {
        assert_eq!(
            failing_var(&[("JWT_SECRET", GOOD), ("JWT_ACCESS_TOKEN_EXP_VALUE", "0")]),
            "JWT_ACCESS_TOKEN_EXP_VALUE"
        );
        assert_eq!(
            failing_var(&[("JWT_SECRET", GOOD), ("JWT_REFRESH_TOKEN_EXP_VALUE", "-3")]),
            "JWT_REFRESH_TOKEN_EXP_VALUE"
        );
        assert_eq!(
            failing_var(&[("JWT_SECRET", GOOD), ("JWT_REFRESH_TOKEN_EXP_VALUE", "999999999")]),
            "JWT_REFRESH_TOKEN_EXP_VALUE"
        );
    }

    #[test]
    fn the_placeholder_secret_warns_in_development_and_is_refused_in_production() -> Result<(), ConfigError> {
        let dev = load(&[("JWT_SECRET", DEV_PLACEHOLDER_SECRET)])?;
        assert!(dev.warnings.iter().any(|w| w.contains("placeholder")));
        assert_eq!(
            failing_var(&[("JWT_SECRET", DEV_PLACEHOLDER_SECRET), ("APP_ENV", "production")]),
            "JWT_SECRET"
        );
        Ok(())
    }

    #[test]
    fn bad_enumerations_are_refused() {
        assert_eq!(
            failing_var(&[("JWT_SECRET", GOOD), ("APP_ENV", "staging")]),
            "APP_ENV"
        );
        assert_eq!(
            failing_var(&[("JWT_SECRET", GOOD), ("LOG_FORMAT", "xml")]),
            "LOG_FORMAT"
        );
        assert_eq!(
            failing_var(&[("JWT_SECRET", GOOD), ("REDIS_URL", "localhost:6379")]),
            "REDIS_URL"
        );
    }

    #[test]
    fn secrets_never_show_in_debug_output() -> Result<(), ConfigError> {
        let c = load(&[("JWT_SECRET", GOOD), ("REDIS_URL", "redis://:hunter2@localhost")])?;
        let shown = format!("{c:?}");
        assert!(!shown.contains(GOOD));
        assert!(!shown.contains("hunter2"));
        Ok(())
    }
}
