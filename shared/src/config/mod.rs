//! Typed settings, read once at start with envy from the environment (and `.env` when present), and
//! validated before anything listens.
//!
//! Every variable is declared once, with [`declare_vars!`]: its name, what it parses to ([`Kind`]), its
//! default ([`WhenUnset`]) and the line `.env.example` documents it with. Each crate declares the ones it
//! adds in a table ([`COMMON`] here, read by both services; `auth_service::config::AUTH` and
//! `solicitud_service::config::SOLICITUD` in the services), so a service reads [`COMMON`] plus its own
//! table, and the deployment tests list the variables from these tables rather than from the sources.
//!
//! Variables are read only through a [`Reader`], which takes a declaration: the declared kind picks the
//! parse and its message, the declared default applies when the variable is unset or empty. A reader
//! collects every problem instead of stopping at the first, so one start reports all of them
//! ([`ConfigErrors`], one line each; `main` prints them and exits with status 2, never a panic trace).
//! The checks that involve more than one variable (a placeholder refused in production, a key required
//! with Redis) are written out in the loaders after the reads. Tests build settings from an iterator of
//! pairs ([`CommonConfig::from_pairs`]) instead of touching the process environment.
//!
//! This file holds the declarations both services share (the tables [`COMMON`] and [`VERIFIER`]) and
//! the settings built from them; the machinery (declaring, reading, errors) is in `vars.rs`, re-exported
//! here. To add a variable: declare it in its crate's table, read it in that crate's loader, and list it
//! in `.env.example` (deploy-tests fails until `.env.example` lists exactly the declared variables).

use jsonwebtoken::Algorithm;

/// The `JWT_SECRET` committed in `.env.example` so `cargo run` works on a fresh clone. Accepted with a
/// loud warning in development, refused when `APP_ENV=production`.
pub const DEV_PLACEHOLDER_SECRET: &str = "dev-only-insecure-jwt-secret-change-me-0123456789";

/// The seed's placeholder `API_PASSWORD`; refused in production like the secret above.
pub const DEV_PLACEHOLDER_PASSWORD: &str = "your-secure-password";

/// The closing paragraph of every binary's `--help`: where its settings come from and how to choose
/// what it logs, which no flag says.
pub const ENVIRONMENT_HELP: &str = "\
Configuration comes from environment variables, and from a .env file in the working directory when
present (real variables win); .env.example lists and explains every one. A bad value stops the start
with one line per bad variable and exit status 2.

RUST_LOG chooses what is logged (default: info), e.g. RUST_LOG=debug, or
RUST_LOG=info,auth_service=debug for one crate; LOG_FORMAT=json writes one JSON object per line.";

/// Clock leeway for `exp` and `nbf`: a few seconds, not jsonwebtoken's default of 60.
pub const JWT_LEEWAY_SECS: i64 = 5;

/// How long an MFA login challenge lives (the contract's five minutes).
pub const MFA_CHALLENGE_SECS: i64 = 300;

/// The longest token or session lifetime accepted: a (leap) year.
const YEAR_SECS: u64 = 366 * 24 * 3600;

#[macro_use]
mod vars;

pub use vars::*;

// ---------------------------------------------------------------------------------------------------
// The tables

declare_vars! {
    /// What both services read: JWT, store and logging.
    pub const COMMON;
    APP_ENV: Kind::OneOf(&["development", "production"]), WhenUnset::Default("development"),
        "development | production (production refuses the placeholders above).";
    LOG_FORMAT: Kind::OneOf(&["pretty", "json"]), WhenUnset::Default("pretty"),
        "pretty | json";
    JWT_SECRET: Kind::Secret, WhenUnset::Nothing,
        "Signs every token with an HS* algorithm; with EdDSA, ES256 or RS256 only auth-service's refresh and MFA tokens, and a backend verifying with the JWKS needs none. At least 32 bytes.";
    JWT_PREVIOUS_SECRETS: Kind::Secrets, WhenUnset::Nothing,
        "Secrets that no longer sign but still verify, comma-separated";
    JWT_ALGORITHM: Kind::OneOf(&["HS256", "HS384", "HS512", "EdDSA", "ES256", "RS256"]), WhenUnset::Default("HS256"),
        "HS256 (default), HS384, HS512, or an asymmetric one: EdDSA (Ed25519), ES256, RS256 (backends verify with the public keys, GET /.well-known/jwks.json)";
    JWT_ACCESS_TOKEN_EXP_VALUE: Kind::Whole { min: 1, max: u64::MAX, unit: "" }, WhenUnset::Default("60"),
        "Access token lifetime: value and unit (minutes | hours).";
    JWT_ACCESS_TOKEN_EXP_UNIT: Kind::OneOf(&["minutes", "hours"]), WhenUnset::Default("minutes"),
        "Access token lifetime: value and unit (minutes | hours).";
    JWT_REFRESH_TOKEN_EXP_VALUE: Kind::Whole { min: 1, max: u64::MAX, unit: "" }, WhenUnset::Default("24"),
        "Refresh token lifetime: value and unit (minutes | hours).";
    JWT_REFRESH_TOKEN_EXP_UNIT: Kind::OneOf(&["minutes", "hours"]), WhenUnset::Default("hours"),
        "Refresh token lifetime: value and unit (minutes | hours).";
    SAPHETY_TOKEN_EXP_MINUTES: Kind::Whole { min: 1, max: 120, unit: "minutes" }, WhenUnset::Default("120"),
        "Lifetime of gettoken tokens in minutes, 1 to 120";
    JWT_ISSUER: Kind::Text, WhenUnset::Default("auth-service"),
        "`iss` and `aud` of every token; both services must agree.";
    JWT_AUDIENCE: Kind::Text, WhenUnset::Default("solicitud-transporte-api"),
        "`iss` and `aud` of every token; both services must agree.";
    REDIS_URL: Kind::Url(&["redis://", "rediss://", "unix://"]), WhenUnset::Nothing,
        "Empty: the embedded in-process store (one process only, state lost on restart).";
    REDIS_CLUSTER_NODES: Kind::Text, WhenUnset::Nothing,
        "Redis Cluster seed nodes (comma-separated redis://host:port), instead of REDIS_URL: any few nodes of the cluster; the rest are learnt from them.";
    REDIS_SENTINELS: Kind::Text, WhenUnset::Nothing,
        "Redis Sentinel: the sentinels' addresses (comma-separated host:port), instead of REDIS_URL; with REDIS_SENTINEL_MASTER.";
    REDIS_SENTINEL_MASTER: Kind::Text, WhenUnset::Nothing,
        "With REDIS_SENTINELS: the name the sentinels know the primary by (their `sentinel monitor <name>`).";
    REDIS_KEY_PREFIX: Kind::Text, WhenUnset::Default("sta:"),
        "Prefix of every key either service writes.";
    ALLOW_EMBEDDED_STORE: Kind::Flag, WhenUnset::Default("false"),
        "true lets APP_ENV=production run without REDIS_URL, on the embedded store.";
}

declare_vars! {
    /// What a backend that verifies access tokens locally reads to follow the revocation feed (the
    /// solicitud service; see the `revocation` module).
    pub const VERIFIER;
    REVOCATION_FEED_ENABLED: Kind::Flag, WhenUnset::Default("true"),
        "Follow the auth service's revocation feed in Redis (only with REDIS_URL), so logged-out tokens are refused within milliseconds.";
    REVOCATION_FEED_REDIS_URL: Kind::Url(&["redis://", "rediss://", "unix://"]), WhenUnset::Nothing,
        "The Redis the auth service writes the feed to, when it is not REDIS_URL's (empty: REDIS_URL).";
    REVOCATION_FEED_MAX_STALENESS_SECONDS: Kind::Whole { min: 1, max: 3600, unit: "seconds" }, WhenUnset::Default("5"),
        "How long the feed may go unconfirmed (Redis unreachable) before requests are refused, in seconds.";
    REVOCATION_FEED_WHEN_STALE: Kind::OneOf(&["fail-closed", "allow"]), WhenUnset::Default("fail-closed"),
        "Past that bound: fail-closed (503) or allow (accept unchecked, with a warning and a metric).";
    JWT_JWKS_URL: Kind::Url(&["http://"]), WhenUnset::Nothing,
        "With EdDSA, ES256 or RS256: where the auth service publishes its public keys (e.g. http://auth-service:8001/.well-known/jwks.json), fetched at start and again for a key not seen yet.";
    JWT_PUBLIC_KEYS_FILE: Kind::Path, WhenUnset::Nothing,
        "Or a file holding that set (a JWKS), read at start: for a backend that cannot reach the auth service.";
}

/// Where a backend gets the public keys of asymmetric access tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKeys {
    /// `JWT_JWKS_URL`: fetched, cached, fetched again on an unknown `kid`.
    Url(String),
    /// `JWT_PUBLIC_KEYS_FILE`: read once at start.
    File(std::path::PathBuf),
}

/// How a backend verifies revocations: follow the feed with these settings, or not at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierConfig {
    /// `REVOCATION_FEED_ENABLED`; it takes effect only with a Redis to read (see [`VerifierConfig::feed_target`]).
    pub feed_enabled: bool,
    /// `REVOCATION_FEED_REDIS_URL`: where the feed is, when not in `REDIS_URL`'s Redis.
    pub feed_redis_url: Option<Secret>,
    pub feed: crate::settings::FeedSettings,
    /// Where the public keys of asymmetric access tokens are; required with one, refused without.
    pub public_keys: Option<PublicKeys>,
}

impl VerifierConfig {
    /// The Redis whose feed to follow: `REVOCATION_FEED_REDIS_URL`, else `redis` (the service's
    /// `REDIS_URL` or Sentinel); none when the feed is disabled or there is no Redis at all.
    pub fn feed_target(
        &self,
        redis: Option<&crate::settings::RedisTarget>,
    ) -> Option<crate::settings::RedisTarget> {
        if !self.feed_enabled {
            return None;
        }
        match &self.feed_redis_url {
            Some(url) => Some(crate::settings::RedisTarget::Url(url.expose().to_string())),
            None => redis.cloned(),
        }
    }

    /// Reads the [`VERIFIER`] variables, leaving every problem in `r`; `algorithm` is the access
    /// tokens' (an asymmetric one needs `JWT_JWKS_URL` or `JWT_PUBLIC_KEYS_FILE`).
    pub fn read(r: &mut Reader<'_>, algorithm: Algorithm) -> Self {
        use crate::settings::{FeedSettings, WhenStale};
        let feed_enabled = r.flag(&REVOCATION_FEED_ENABLED).unwrap_or(true);
        let feed_redis_url = r.secret(&REVOCATION_FEED_REDIS_URL);
        let secs = r.whole(&REVOCATION_FEED_MAX_STALENESS_SECONDS).unwrap_or(5);
        let when_stale = match r.choice(&REVOCATION_FEED_WHEN_STALE) {
            Some("allow") => WhenStale::Allow,
            _ => WhenStale::FailClosed,
        };
        let url = r.secret(&JWT_JWKS_URL).map(|u| u.expose().to_string());
        let file = r.text(&JWT_PUBLIC_KEYS_FILE).map(std::path::PathBuf::from);
        let public_keys = match (url, file) {
            (Some(_), Some(_)) => {
                r.error(
                    &JWT_PUBLIC_KEYS_FILE,
                    "is set together with JWT_JWKS_URL: set one of them (the URL, or a file holding the set)",
                );
                None
            }
            (Some(url), None) => Some(PublicKeys::Url(url)),
            (None, Some(file)) => Some(PublicKeys::File(file)),
            (None, None) => None,
        };
        let asymmetric = !crate::settings::is_hmac(algorithm);
        if asymmetric && public_keys.is_none() && !r.is_set(&JWT_PUBLIC_KEYS_FILE) {
            r.error(
                &JWT_JWKS_URL,
                format!(
                    "is not set, and JWT_ALGORITHM={algorithm:?} signs with a private key only the auth service holds: \
                     set JWT_JWKS_URL to its JWKS (http://<auth-service>:8001/.well-known/jwks.json) or \
                     JWT_PUBLIC_KEYS_FILE to a copy of it"
                ),
            );
        }
        if !asymmetric {
            if let Some(source) = &public_keys {
                let var = match source {
                    PublicKeys::Url(_) => &JWT_JWKS_URL,
                    PublicKeys::File(_) => &JWT_PUBLIC_KEYS_FILE,
                };
                r.error(
                    var,
                    format!("is set, but JWT_ALGORITHM={algorithm:?} is an HMAC algorithm, verified with JWT_SECRET: set JWT_ALGORITHM to the auth service's (EdDSA, ES256 or RS256)"),
                );
            }
        }
        Self {
            feed_enabled,
            feed_redis_url,
            feed: FeedSettings {
                max_staleness: std::time::Duration::from_secs(secs),
                when_stale,
            },
            public_keys,
        }
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

// ---------------------------------------------------------------------------------------------------
// The settings both services read

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

/// What both services read: JWT, store and logging (the variables of [`COMMON`]).
#[derive(Debug, Clone)]
pub struct CommonConfig {
    pub app_env: AppEnv,
    pub log_format: LogFormat,
    pub jwt: JwtSettings,
    /// Where Redis is (`REDIS_URL`, or Sentinel); `None`: the embedded in-process store.
    pub redis: Option<crate::settings::RedisTarget>,
    pub redis_key_prefix: String,
    /// Things that are allowed but worth a loud line in the log once logging is up.
    pub warnings: Vec<String>,
}

impl FromVars for CommonConfig {
    fn from_vars(vars: &RawVars) -> Result<Self, ConfigErrors> {
        let mut reader = Reader::new(vars);
        let config = Self::read(&mut reader);
        reader.finish(config)
    }
}

impl CommonConfig {
    /// Reads the [`COMMON`] variables, leaving every problem in `r` (a service reads its own next).
    pub fn read(r: &mut Reader<'_>) -> Self {
        let mut warnings = Vec::new();
        let app_env = match r.choice(&APP_ENV) {
            Some("production") => AppEnv::Production,
            _ => AppEnv::Development,
        };
        let log_format = match r.choice(&LOG_FORMAT) {
            Some("json") => LogFormat::Json,
            _ => LogFormat::Pretty,
        };

        let algorithm = match r.choice(&JWT_ALGORITHM) {
            Some("HS384") => Algorithm::HS384,
            Some("HS512") => Algorithm::HS512,
            Some("EdDSA") => Algorithm::EdDSA,
            Some("ES256") => Algorithm::ES256,
            Some("RS256") => Algorithm::RS256,
            _ => Algorithm::HS256,
        };
        // Every service needs the secret with an HMAC algorithm; with an asymmetric one the auth
        // service still does (refresh and MFA tokens) and says so, a backend does not.
        let secret = r.secret(&JWT_SECRET).unwrap_or_else(|| Secret::new(""));
        if secret.expose().is_empty() && crate::settings::is_hmac(algorithm) && !r.is_set(&JWT_SECRET) {
            r.error(&JWT_SECRET, format!("is not set; {SECRET_HOWTO}"));
        }
        if secret.expose() == DEV_PLACEHOLDER_SECRET {
            if app_env == AppEnv::Production {
                r.error(
                    &JWT_SECRET,
                    format!("is the development placeholder from .env.example, refused with APP_ENV=production; {SECRET_HOWTO}"),
                );
            }
            warnings.push(
                "JWT_SECRET is the development placeholder from .env.example: anyone can forge tokens. \
                 Never use it outside a developer's machine (APP_ENV=production refuses it)."
                    .to_string(),
            );
        }
        let previous_secrets = r.secrets(&JWT_PREVIOUS_SECRETS);

        let access_ttl_secs = lifetime(r, &JWT_ACCESS_TOKEN_EXP_VALUE, &JWT_ACCESS_TOKEN_EXP_UNIT);
        let refresh_ttl_secs = lifetime(r, &JWT_REFRESH_TOKEN_EXP_VALUE, &JWT_REFRESH_TOKEN_EXP_UNIT);
        if refresh_ttl_secs < access_ttl_secs {
            warnings.push(format!(
                "the refresh token lifetime ({refresh_ttl_secs} s) is shorter than the access token lifetime ({access_ttl_secs} s)"
            ));
        }
        let saphety_minutes = r.whole(&SAPHETY_TOKEN_EXP_MINUTES).unwrap_or_default();

        let issuer = r.text(&JWT_ISSUER).unwrap_or_default();
        if issuer.contains("://") && !issuer_is_url(&issuer) {
            r.error(
                &JWT_ISSUER,
                "looks like a URL but is not one an OpenID Provider may be: use https://host[/path], or \
                 http:// on localhost or a loopback address, without query or fragment (or a plain name \
                 such as auth-service, with the OAuth 2.0 endpoints off)",
            );
        }
        let audience = r.text(&JWT_AUDIENCE).unwrap_or_default();

        let redis = redis_target(r);
        let allow_embedded_store = r.flag(&ALLOW_EMBEDDED_STORE).unwrap_or(false);
        let any_redis = [&REDIS_URL, &REDIS_SENTINELS, &REDIS_CLUSTER_NODES]
            .iter()
            .any(|v| r.is_set(v));
        if !any_redis && app_env == AppEnv::Production {
            if allow_embedded_store {
                warnings.push(
                    "REDIS_URL is empty: using the embedded in-process store (ALLOW_EMBEDDED_STORE=true); \
                     state is lost on restart and not shared between replicas"
                        .to_string(),
                );
            } else {
                r.error(
                    &REDIS_URL,
                    "is empty, and APP_ENV=production refuses the embedded store: it forgets every \
                     session, revocation and rate-limit count at restart and shares them with no other \
                     process; set REDIS_URL (e.g. redis://127.0.0.1:6379), or ALLOW_EMBEDDED_STORE=true \
                     to run on it all the same",
                );
            }
        }
        let redis_key_prefix = r.text(&REDIS_KEY_PREFIX).unwrap_or_default();
        for (name, closest) in unknown_variables(r.raw()) {
            warnings.push(format!(
                "{name} is set, but no service reads it: did you mean {closest}? (.env.example lists every variable)"
            ));
        }

        Self {
            app_env,
            log_format,
            jwt: JwtSettings {
                secret,
                previous_secrets,
                algorithm,
                access_ttl_secs,
                refresh_ttl_secs,
                // At most 120 minutes: no overflow.
                saphety_ttl_secs: (saphety_minutes * 60) as i64,
                issuer,
                audience,
            },
            redis,
            redis_key_prefix,
            warnings,
        }
    }
}

/// Whether `issuer` is an issuer URL (OIDC Discovery §3, RFC 8414 §2): `https`, or `http` on
/// `localhost` or a loopback address, with no query, fragment or user. With one, auth-service serves
/// the OAuth 2.0 endpoints.
pub fn issuer_is_url(issuer: &str) -> bool {
    let Ok(url) = url::Url::parse(issuer) else {
        return false;
    };
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return false;
    }
    match (url.scheme(), url.host()) {
        ("https", Some(_)) => true,
        ("http", Some(url::Host::Domain("localhost"))) => true,
        ("http", Some(url::Host::Ipv4(ip))) => ip.is_loopback(),
        ("http", Some(url::Host::Ipv6(ip))) => ip.is_loopback(),
        _ => false,
    }
}

/// The Redis topology: at most one of `REDIS_URL`, `REDIS_CLUSTER_NODES`, `REDIS_SENTINELS`. Cluster
/// needs `redis://host:port` seed nodes and a prefix without braces; Sentinel needs
/// `REDIS_SENTINEL_MASTER` and `host:port` addresses.
fn redis_target(r: &mut Reader<'_>) -> Option<crate::settings::RedisTarget> {
    use crate::settings::RedisTarget;
    let chosen: Vec<&VarSpec> = [&REDIS_URL, &REDIS_CLUSTER_NODES, &REDIS_SENTINELS]
        .into_iter()
        .filter(|v| r.is_set(v))
        .collect();
    if chosen.len() > 1 {
        for var in &chosen[1..] {
            r.error(
                var,
                format!(
                    "is set together with {}: at most one of REDIS_URL, REDIS_CLUSTER_NODES and REDIS_SENTINELS may be set (one Redis, a cluster, or Sentinel)",
                    chosen[0].name
                ),
            );
        }
    }
    let url = r.secret(&REDIS_URL);
    if let Some(list) = r.text(&REDIS_CLUSTER_NODES) {
        let nodes: Vec<String> = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        let bad: Vec<&str> = nodes
            .iter()
            .filter(|n| {
                let rest = n.strip_prefix("redis://").or_else(|| n.strip_prefix("rediss://"));
                // host:port after any user:password@, and nothing after the port but a path.
                !rest.is_some_and(|rest| {
                    let host_port = rest.rsplit('@').next().unwrap_or(rest);
                    let host_port = host_port.split('/').next().unwrap_or(host_port);
                    host_port.rsplit_once(':').is_some_and(|(host, port)| {
                        !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
                    })
                })
            })
            .map(String::as_str)
            .collect();
        if !bad.is_empty() {
            // Only the count: a node URL may hold a password.
            r.error(
                &REDIS_CLUSTER_NODES,
                format!(
                    "has {} entr{} that {} not redis://host:port (e.g. redis://redis-1:6379,redis://redis-2:6379)",
                    bad.len(),
                    if bad.len() == 1 { "y" } else { "ies" },
                    if bad.len() == 1 { "is" } else { "are" }
                ),
            );
        } else if nodes.is_empty() {
            r.error(
                &REDIS_CLUSTER_NODES,
                "names no node (comma-separated redis://host:port)",
            );
        } else if r.text(&REDIS_KEY_PREFIX).is_some_and(|p| p.contains(['{', '}'])) {
            r.error(
                &REDIS_KEY_PREFIX,
                "must not hold `{` or `}` with REDIS_CLUSTER_NODES: the services put each user's keys under a hash tag of their own, and a brace in the prefix would make it the tag",
            );
        } else if chosen.len() == 1 {
            return Some(RedisTarget::Cluster { nodes });
        }
        return None;
    }
    let master = r.text(&REDIS_SENTINEL_MASTER).filter(|m| !m.trim().is_empty());
    let sentinels = r.text(&REDIS_SENTINELS).map(|list| {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|addr| {
                addr.rsplit_once(':')
                    .and_then(|(host, port)| {
                        let port = port.parse::<u16>().ok().filter(|p| *p > 0)?;
                        (!host.is_empty()).then(|| (host.trim_matches(['[', ']']).to_string(), port))
                    })
                    .ok_or_else(|| addr.to_string())
            })
            .collect::<Vec<_>>()
    });
    match (sentinels, master) {
        (Some(list), master) => {
            let bad: Vec<String> = list.iter().filter_map(|a| a.as_ref().err().cloned()).collect();
            if !bad.is_empty() {
                r.error(
                    &REDIS_SENTINELS,
                    format!("`{}` is not host:port (e.g. sentinel-1:26379)", bad.join("`, `")),
                );
            }
            let addrs: Vec<(String, u16)> = list.into_iter().filter_map(Result::ok).collect();
            if addrs.is_empty() && bad.is_empty() {
                r.error(&REDIS_SENTINELS, "names no sentinel (comma-separated host:port)");
            }
            match master {
                Some(master) if !addrs.is_empty() && chosen.len() == 1 => Some(RedisTarget::Sentinel {
                    sentinels: addrs,
                    master,
                }),
                Some(_) => None,
                None => {
                    r.error(
                        &REDIS_SENTINEL_MASTER,
                        "is required with REDIS_SENTINELS: the name the sentinels monitor the primary by",
                    );
                    None
                }
            }
        }
        (None, Some(_)) => {
            r.error(
                &REDIS_SENTINEL_MASTER,
                "is set without REDIS_SENTINELS, which it belongs to",
            );
            None
        }
        (None, None) => url.map(|u| RedisTarget::Url(u.expose().to_string())),
    }
}

/// A lifetime in seconds from its value and unit variables, at most a year.
fn lifetime(r: &mut Reader<'_>, value_var: &VarSpec, unit_var: &VarSpec) -> i64 {
    let value = r.whole(value_var);
    let per_unit: Option<u64> = match r.choice(unit_var) {
        Some("minutes") => Some(60),
        Some("hours") => Some(3600),
        _ => None,
    };
    let (Some(value), Some(per_unit)) = (value, per_unit) else {
        return 0;
    };
    match value
        .checked_mul(per_unit)
        .filter(|secs| *secs <= YEAR_SECS)
        .and_then(|secs| i64::try_from(secs).ok())
    {
        Some(secs) => secs,
        None => {
            r.error(value_var, "is more than a year");
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn a_variable_no_service_reads_that_looks_like_ours_is_named_with_the_closest_known_one() {
        let vars = from_pairs([
            ("JWT_ACCESS_TOKEN_EXPIRES", "3600"),
            ("REDIS_URI", "redis://x"),
            ("RATE_LIMIT_LOGIN_WINDOW_SECS", "60"),
            // Ours, and names of the machine or of other tools: nothing to say.
            ("JWT_SECRET", GOOD),
            ("PATH", "/usr/bin"),
            ("HOSTNAME", "abc"),
            ("RUST_LOG", "info"),
            ("CARGO_TARGET_DIR", "/tmp/t"),
            ("HOME", "/root"),
        ]);
        let unknown = unknown_variables(&vars);
        let names: Vec<&str> = unknown.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(
            names,
            [
                "JWT_ACCESS_TOKEN_EXPIRES",
                "RATE_LIMIT_LOGIN_WINDOW_SECS",
                "REDIS_URI"
            ]
        );
        // _VALUE and _UNIT are as close as each other to the first.
        assert!(unknown[0].1.starts_with("JWT_ACCESS_TOKEN_EXP_"), "{unknown:?}");
        assert_eq!(unknown[1].1, "RATE_LIMIT_LOGIN_WINDOW_SECONDS");
        assert_eq!(unknown[2].1, "REDIS_URL");
        // And the start goes on, with a warning that names both.
        let config = load(&[("JWT_SECRET", GOOD), ("JWT_ACCESS_TOKEN_EXPIRES", "3600")]).unwrap();
        assert!(
            config
                .warnings
                .iter()
                .any(|w| w.contains("JWT_ACCESS_TOKEN_EXPIRES")
                    && w.contains("did you mean JWT_ACCESS_TOKEN_EXP_")),
            "{:?}",
            config.warnings
        );
    }

    fn load(pairs: &[(&str, &str)]) -> Result<CommonConfig, ConfigErrors> {
        CommonConfig::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    /// The variables refused, comma-separated, or "accepted".
    fn failing_var(pairs: &[(&str, &str)]) -> String {
        match load(pairs) {
            Ok(_) => "accepted".into(),
            Err(e) => e.vars().join(","),
        }
    }

    #[test]
    fn the_seed_defaults_apply() -> Result<(), ConfigErrors> {
        let c = load(&[("JWT_SECRET", GOOD)])?;
        assert_eq!(c.jwt.algorithm, Algorithm::HS256);
        assert_eq!(c.jwt.access_ttl_secs, 3600);
        assert_eq!(c.jwt.refresh_ttl_secs, 24 * 3600);
        assert_eq!(c.jwt.saphety_ttl_secs, 120 * 60);
        assert_eq!(c.jwt.issuer, "auth-service");
        assert_eq!(c.jwt.audience, "solicitud-transporte-api");
        assert_eq!(c.redis_key_prefix, "sta:");
        assert_eq!(c.app_env, AppEnv::Development);
        assert_eq!(c.log_format, LogFormat::Pretty);
        assert!(c.redis.is_none());
        assert!(c.jwt.previous_secrets.is_empty());
        Ok(())
    }

    #[test]
    fn a_missing_secret_names_the_variable_and_says_how_to_generate_one() {
        let err = load(&[]).err();
        let err = err.as_ref();
        assert_eq!(err.map(|e| e.vars()), Some(vec!["JWT_SECRET"]));
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
    fn only_the_listed_algorithms_are_allowed() {
        for bad in ["none", "RS384", "ES384", "PS256", "HS1", "Ed25519"] {
            assert_eq!(
                failing_var(&[("JWT_SECRET", GOOD), ("JWT_ALGORITHM", bad)]),
                "JWT_ALGORITHM"
            );
        }
        for good in [
            "HS256", "HS384", "HS512", "hs512", "EdDSA", "ES256", "RS256", "eddsa",
        ] {
            assert_eq!(
                failing_var(&[("JWT_SECRET", GOOD), ("JWT_ALGORITHM", good)]),
                "accepted"
            );
        }
        // With an asymmetric algorithm the common settings need no secret (a backend verifying with
        // the published keys holds none); with an HMAC one they do.
        assert_eq!(failing_var(&[("JWT_ALGORITHM", "EdDSA")]), "accepted");
        assert_eq!(failing_var(&[("JWT_ALGORITHM", "HS384")]), "JWT_SECRET");
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
    fn the_placeholder_secret_warns_in_development_and_is_refused_in_production() -> Result<(), ConfigErrors>
    {
        let dev = load(&[("JWT_SECRET", DEV_PLACEHOLDER_SECRET)])?;
        assert!(dev.warnings.iter().any(|w| w.contains("placeholder")));
        assert_eq!(
            failing_var(&[
                ("JWT_SECRET", DEV_PLACEHOLDER_SECRET),
                ("APP_ENV", "production"),
                ("REDIS_URL", "redis://127.0.0.1:6379")
            ]),
            "JWT_SECRET"
        );
        Ok(())
    }

    #[test]
    fn production_refuses_the_embedded_store_unless_the_operator_allows_it() -> Result<(), ConfigErrors> {
        let production = [("JWT_SECRET", GOOD), ("APP_ENV", "production")];
        assert_eq!(failing_var(&production), "REDIS_URL");
        let message = load(&production).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("ALLOW_EMBEDDED_STORE=true"), "{message}");
        let with_redis = [
            ("REDIS_URL", "redis://127.0.0.1:6379"),
            production[0],
            production[1],
        ];
        assert_eq!(failing_var(&with_redis), "accepted");
        let allowed = [("ALLOW_EMBEDDED_STORE", "true"), production[0], production[1]];
        let config = load(&allowed)?;
        assert!(config.redis.is_none());
        assert!(
            config.warnings.iter().any(|w| w.contains("embedded")),
            "{:?}",
            config.warnings
        );
        // Said explicitly: anything but true keeps the refusal, and a non-flag is its own error.
        let not_allowed = [("ALLOW_EMBEDDED_STORE", "false"), production[0], production[1]];
        assert_eq!(failing_var(&not_allowed), "REDIS_URL");
        let garbage = [
            ("ALLOW_EMBEDDED_STORE", "yes please"),
            production[0],
            production[1],
        ];
        assert_eq!(failing_var(&garbage), "ALLOW_EMBEDDED_STORE,REDIS_URL");
        // Development runs on the embedded store without being told.
        assert_eq!(failing_var(&[production[0]]), "accepted");
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
    fn secrets_never_show_in_debug_output() -> Result<(), ConfigErrors> {
        let c = load(&[("JWT_SECRET", GOOD), ("REDIS_URL", "redis://:hunter2@localhost")])?;
        let shown = format!("{c:?}");
        assert!(!shown.contains(GOOD));
        assert!(!shown.contains("hunter2"));
        Ok(())
    }

    #[test]
    fn secrets_never_show_in_error_messages() {
        let short = "short-but-secret";
        let url = "http://:hunter2@localhost";
        let shown = load(&[("JWT_SECRET", short), ("REDIS_URL", url)])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            shown.contains("JWT_SECRET") && shown.contains("REDIS_URL"),
            "{shown}"
        );
        assert!(!shown.contains(short) && !shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn every_bad_variable_is_reported_at_once_one_line_each() {
        let e = load(&[
            ("JWT_SECRET", "short"),
            ("APP_ENV", "staging"),
            ("JWT_ACCESS_TOKEN_EXP_UNIT", "days"),
            ("SAPHETY_TOKEN_EXP_MINUTES", "121"),
        ])
        .err();
        let vars = e.as_ref().map(ConfigErrors::vars).unwrap_or_default();
        assert_eq!(
            vars,
            [
                "APP_ENV",
                "JWT_SECRET",
                "JWT_ACCESS_TOKEN_EXP_UNIT",
                "SAPHETY_TOKEN_EXP_MINUTES"
            ]
        );
        let text = e.map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(text.lines().count(), 4, "{text}");
        assert!(
            text.lines().all(|l| l.starts_with("invalid configuration: ")),
            "{text}"
        );
    }

    #[test]
    fn a_lifetime_is_at_most_a_year_in_either_unit() {
        let ok = [("JWT_SECRET", GOOD), ("JWT_REFRESH_TOKEN_EXP_VALUE", "8784")];
        assert_eq!(failing_var(&ok), "accepted");
        let over = [("JWT_SECRET", GOOD), ("JWT_REFRESH_TOKEN_EXP_VALUE", "8785")];
        assert_eq!(failing_var(&over), "JWT_REFRESH_TOKEN_EXP_VALUE");
    }

    #[test]
    fn every_declared_default_is_valid_and_names_are_unique() {
        let names: std::collections::BTreeSet<&str> = COMMON.iter().map(|v| v.name).collect();
        assert_eq!(names.len(), COMMON.len());
        for spec in COMMON {
            assert!(!spec.doc.is_empty(), "{} has no doc", spec.name);
            assert!(
                spec.name
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'),
                "{}",
                spec.name
            );
        }
        // With only the required variable set, every other one takes its default, and all parse.
        assert_eq!(failing_var(&[("JWT_SECRET", GOOD)]), "accepted");
    }

    #[test]
    fn a_read_that_does_not_fit_the_declaration_is_reported_not_guessed() {
        let raw = from_pairs([("JWT_ISSUER", "x")]);
        let mut r = Reader::new(&raw);
        assert_eq!(r.whole(&JWT_ISSUER), None);
        assert_eq!(r.finish(()).err().map(|e| e.vars()), Some(vec!["JWT_ISSUER"]));
    }
}
