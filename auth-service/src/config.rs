//! The auth service's settings: the shared ones plus users, sessions, MFA and rate limits.
//!
//! The variables only this service reads are declared once in [`AUTH`] (name, kind, default, the line
//! `.env.example` documents it with); [`variables`] lists everything it reads. Read once at start;
//! every problem is reported at once, each naming its variable (see [`shared::config`]).

use std::net::SocketAddr;
use std::path::PathBuf;

use shared::config::{
    AppEnv, CommonConfig, ConfigErrors, FromVars, Kind, RawVars, Reader, Secret, VarSpec, WhenUnset,
    DEV_PLACEHOLDER_PASSWORD, KEY_HOWTO,
};

shared::declare_vars! {
    /// What the auth service reads besides [`shared::config::COMMON`].
    pub const AUTH;
    AUTH_BIND_ADDR: Kind::Address, WhenUnset::Default("0.0.0.0:8001"),
        "Where auth-service listens.";
    API_USER: Kind::Text, WhenUnset::Default("api_user"),
        "The bootstrap administrator (user id 1, rol admin).";
    API_PASSWORD: Kind::Password { max_chars: crate::passwords::MAX_PASSWORD_CHARS }, WhenUnset::Required,
        "The bootstrap administrator's password";
    API_USER_EMAIL: Kind::Text, WhenUnset::Default("api_user@example.com"),
        "The bootstrap administrator's email";
    USERS_FILE: Kind::Path, WhenUnset::Nothing,
        "More users: a TOML file of [[users]] tables";
    CLIENTS_FILE: Kind::Path, WhenUnset::Nothing,
        "OAuth 2.0 clients: a TOML file of [[clients]] tables";
    EMBEDDED_STORE_FILE: Kind::Path, WhenUnset::Nothing,
        "Without REDIS_URL: the file the embedded store keeps its state in (users, sessions, revocations), so a restart keeps them";
    JWT_REFRESH_RETRY_GRACE_SECONDS: Kind::Whole { min: 0, max: 300, unit: "seconds" }, WhenUnset::Default("10"),
        "0 turns it off: any second use is reuse and revokes the session.";
    SESSION_ABSOLUTE_TIMEOUT_HOURS: Kind::Whole { min: 1, max: 24 * 366, unit: "hours (a year)" }, WhenUnset::Default("168"),
        "No session outlives this many hours from its login, however often it is refreshed.";
    MFA_ISSUER_NAME: Kind::Text, WhenUnset::Default("ONI_Justicia"),
        "Issuer shown in authenticator apps.";
    MFA_VALID_WINDOW: Kind::Whole { min: 0, max: 10, unit: "steps" }, WhenUnset::Default("1"),
        "Accepted TOTP steps of 30 s either side of the server's time.";
    MFA_ENABLED: Kind::Flag, WhenUnset::Default("true"),
        "Whether users may enrol in TOTP MFA (true | false).";
    MFA_ENCRYPTION_KEY: Kind::Key, WhenUnset::Nothing,
        "32 random bytes in standard base64 that encrypt TOTP secrets";
    TRUSTED_PROXIES: Kind::Networks, WhenUnset::Nothing,
        "Reverse proxies whose X-Forwarded-For is believed";
    DEFAULT_VIRTUAL_OPERATOR: Kind::Text, WhenUnset::Default("saphety"),
        "Virtual operator of every user whose entry names none";
    SAPHETY_LANGUAGE: Kind::Text, WhenUnset::Default("es-CO"),
        "The `language` claim of gettoken tokens.";
    PASSWORD_HASH_CONCURRENCY: Kind::Whole { min: 1, max: u64::MAX, unit: "" }, WhenUnset::Nothing,
        "Concurrent argon2 computations (each holds ~19 MiB). Default: the number of CPUs.";
    RATE_LIMIT_LOGIN_MAX_FAILURES: Kind::Whole { min: 1, max: u64::MAX, unit: "" }, WhenUnset::Default("5"),
        "Failed credential attempts (a wrong password or code) per account";
    RATE_LIMIT_LOGIN_WINDOW_SECONDS: Kind::Whole { min: 1, max: u64::MAX, unit: "seconds" }, WhenUnset::Default("900"),
        "The window those failures are counted in, from the first one";
    INTROSPECTION_CLIENTS: Kind::Credentials, WhenUnset::Nothing,
        "Clients allowed to call POST /auth/introspect, as client_id:secret pairs, comma-separated (HTTP Basic).";
    RATE_LIMIT_IP_PER_MINUTE: Kind::Whole { min: 1, max: u64::MAX, unit: "" }, WhenUnset::Default("120"),
        "Requests per client IP per minute to login, refresh, MFA verify and gettoken.";
    KEY_ENCRYPTION_KEY: Kind::Key, WhenUnset::Nothing,
        "With EdDSA, ES256 or RS256: 32 random bytes in standard base64 that seal the signing keys' private halves in the store (every replica the same; required with Redis).";
    JWT_PRIVATE_KEY_FILE: Kind::Path, WhenUnset::Nothing,
        "Or one signing key of your own: a PKCS#8 PEM private key of JWT_ALGORITHM's kind (never rotated here).";
    JWT_KEY_ROTATION_DAYS: Kind::Whole { min: 1, max: 366, unit: "days" }, WhenUnset::Default("30"),
        "Generated signing keys are replaced after this many days (the old one stays published until its last token expires).";
    WEBAUTHN_RP_ID: Kind::Text, WhenUnset::Nothing,
        "Passkeys' relying party: the domain the login pages are served under (passkeys are bound to it for good). Default: JWT_ISSUER's host when it is a URL (localhost for a loopback address); passkeys are off without either.";
    WEBAUTHN_ORIGINS: Kind::Text, WhenUnset::Nothing,
        "The exact origins passkey ceremonies may come from, comma-separated (https, or http on localhost), each under WEBAUTHN_RP_ID. Default: JWT_ISSUER's origin.";
    JWKS_CACHE_SECONDS: Kind::Whole { min: 1, max: 86400, unit: "seconds" }, WhenUnset::Default("300"),
        "How long backends may cache GET /.well-known/jwks.json (its max-age); a new key is published that long before it signs.";
}

/// Every variable the auth service reads: the shared ones, then its own.
pub fn variables() -> impl Iterator<Item = &'static VarSpec> {
    shared::config::COMMON.iter().chain(AUTH)
}

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
    /// OAuth 2.0 clients, from a TOML file of `[[clients]]` tables.
    pub clients_file: Option<PathBuf>,
    /// Clients declared in the same format when `CLIENTS_FILE` is unset: the one-command mode's demo
    /// client (`deploy/demo-clients.toml`, built into the all-in-one binary); none otherwise.
    pub builtin_clients: Option<&'static str>,
    /// Where the embedded store keeps its state; `None`: in memory only.
    pub embedded_store_file: Option<PathBuf>,
    /// How long the successor of a just-rotated refresh token is handed out again (0: never).
    pub refresh_retry_grace_secs: u64,
    /// No session outlives this, however often it is refreshed.
    pub session_absolute_timeout_secs: i64,
    pub mfa_issuer_name: String,
    pub mfa_valid_window: u8,
    /// Whether users may enrol in MFA (`MFA_ENABLED`, default true).
    pub mfa_enabled: bool,
    /// Encrypts TOTP secrets at rest; `None` with the embedded store means a per-process random key.
    pub mfa_encryption_key: Option<crate::sealing::SealingKey>,
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
    /// Who may call `/auth/introspect` (HTTP Basic); empty: anyone, as before.
    pub introspection_clients: Vec<(String, Secret)>,
    /// Seals the signing keys' private halves in the store (asymmetric `JWT_ALGORITHM`).
    pub key_encryption_key: Option<crate::sealing::SealingKey>,
    /// One operator-managed signing key (PKCS#8 PEM text), instead of generated ones.
    pub private_key_pem: Option<Secret>,
    pub key_rotation_secs: u64,
    /// The JWKS's `max-age`, and how long a new key is published before it signs.
    pub jwks_cache_secs: u64,
    /// Where passkeys may be used; `None`: passkeys are off.
    pub webauthn: Option<RelyingParty>,
}

impl AuthConfig {
    /// Whether the OAuth 2.0 endpoints are served: `JWT_ISSUER` is an issuer URL
    /// ([`shared::config::issuer_is_url`]).
    pub fn oauth_enabled(&self) -> bool {
        shared::config::issuer_is_url(&self.common.jwt.issuer)
    }
}

impl FromVars for AuthConfig {
    /// Reads [`variables`], every problem reported at once.
    fn from_vars(vars: &RawVars) -> Result<Self, ConfigErrors> {
        let mut r = Reader::new(vars);
        let mut common = CommonConfig::read(&mut r);
        let bind_addr = r
            .address(&AUTH_BIND_ADDR)
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
        let api_user = r.text(&API_USER).unwrap_or_default();
        if let Err(e) = crate::identity::Username::parse(&api_user) {
            r.error(&API_USER, e);
        }
        let api_password = r.secret(&API_PASSWORD).unwrap_or_else(|| Secret::new(""));
        let production = common.app_env == AppEnv::Production;
        if api_password.expose() == DEV_PLACEHOLDER_PASSWORD {
            if production {
                r.error(
                    &API_PASSWORD,
                    "is the placeholder from .env.example, refused with APP_ENV=production; choose a strong password",
                );
            }
            common
                .warnings
                .push("API_PASSWORD is the placeholder from .env.example; change it before anyone else can reach this service".into());
        } else if !api_password.expose().is_empty() {
            // Empty: unset or invalid, already reported.
            if let Err(rule) = crate::password_policy::check(api_password.expose()) {
                let name = rule.name();
                if production {
                    r.error(
                        &API_PASSWORD,
                        format!(
                            "{rule} (password rule {name}), refused with APP_ENV=production; choose another"
                        ),
                    );
                } else {
                    common.warnings.push(format!(
                        "API_PASSWORD {rule} (password rule {name}); APP_ENV=production refuses it"
                    ));
                }
            }
        }
        let api_user_email = r.text(&API_USER_EMAIL).unwrap_or_default();
        if let Err(e) = crate::identity::Email::parse(&api_user_email) {
            r.error(&API_USER_EMAIL, e);
        }
        let users_file = r.text(&USERS_FILE).map(PathBuf::from);
        let clients_file = r.text(&CLIENTS_FILE).map(PathBuf::from);
        let embedded_store_file = r.text(&EMBEDDED_STORE_FILE).map(PathBuf::from);
        let refresh_retry_grace_secs = r.whole(&JWT_REFRESH_RETRY_GRACE_SECONDS).unwrap_or_default();
        // At most a year of hours (the declared bound): no overflow.
        let session_hours = r.whole(&SESSION_ABSOLUTE_TIMEOUT_HOURS).unwrap_or_default();

        let mfa_issuer_name = r.text(&MFA_ISSUER_NAME).unwrap_or_default();
        if mfa_issuer_name.contains(':') {
            r.error(&MFA_ISSUER_NAME, "may not contain ':'");
        }
        // At most 10 (the declared bound): fits.
        let mfa_valid_window = r.whole(&MFA_VALID_WINDOW).unwrap_or_default() as u8;
        let mfa_enabled = r.flag(&MFA_ENABLED).unwrap_or(true);
        let mfa_encryption_key = r.parse_with(&MFA_ENCRYPTION_KEY, crate::sealing::SealingKey::from_base64);
        if mfa_enabled && !r.is_set(&MFA_ENCRYPTION_KEY) && common.redis.is_some() {
            r.error(
                &MFA_ENCRYPTION_KEY,
                format!(
                    "is required with REDIS_URL, to encrypt TOTP secrets at rest; {KEY_HOWTO} \
                     (or set MFA_ENABLED=false)"
                ),
            );
        }

        let trusted_proxies = r.networks(&TRUSTED_PROXIES);
        let default_virtual_operator = r.text(&DEFAULT_VIRTUAL_OPERATOR).unwrap_or_default();
        let saphety_language = r.text(&SAPHETY_LANGUAGE).unwrap_or_default();
        let password_hash_concurrency = match r.whole(&PASSWORD_HASH_CONCURRENCY) {
            Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
            None => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        };
        let rate_limit_login_max_failures = r.whole(&RATE_LIMIT_LOGIN_MAX_FAILURES).unwrap_or_default();
        let rate_limit_login_window_secs = r.whole(&RATE_LIMIT_LOGIN_WINDOW_SECONDS).unwrap_or_default();
        let rate_limit_ip_per_minute = r.whole(&RATE_LIMIT_IP_PER_MINUTE).unwrap_or_default();
        let introspection_clients = r.credentials(&INTROSPECTION_CLIENTS);

        let algorithm = common.jwt.algorithm;
        let asymmetric = !shared::token::is_hmac(algorithm);
        if asymmetric && common.jwt.secret.expose().is_empty() && !r.is_set(&shared::config::JWT_SECRET) {
            r.error(
                &shared::config::JWT_SECRET,
                format!(
                    "is not set; auth-service signs refresh and MFA tokens with it whatever JWT_ALGORITHM is; {}",
                    shared::config::SECRET_HOWTO
                ),
            );
        }
        let key_encryption_key = r.parse_with(&KEY_ENCRYPTION_KEY, crate::sealing::SealingKey::from_base64);
        let private_key_pem =
            r.text(&JWT_PRIVATE_KEY_FILE)
                .and_then(|path| match std::fs::read_to_string(&path) {
                    Ok(text) => match crate::signing::from_pem(algorithm, &text) {
                        Ok(_) => Some(Secret::new(&text)),
                        Err(e) if asymmetric => {
                            r.error(&JWT_PRIVATE_KEY_FILE, format!("{path} {e}"));
                            None
                        }
                        Err(_) => None,
                    },
                    Err(e) => {
                        r.error(&JWT_PRIVATE_KEY_FILE, format!("cannot read {path}: {e}"));
                        None
                    }
                });
        if !asymmetric && r.is_set(&JWT_PRIVATE_KEY_FILE) {
            r.error(
                &JWT_PRIVATE_KEY_FILE,
                format!("is set, but JWT_ALGORITHM={algorithm:?} signs with JWT_SECRET: set JWT_ALGORITHM to the key's (EdDSA, ES256 or RS256)"),
            );
        }
        if asymmetric
            && !r.is_set(&JWT_PRIVATE_KEY_FILE)
            && !r.is_set(&KEY_ENCRYPTION_KEY)
            && common.redis.is_some()
        {
            r.error(
                &KEY_ENCRYPTION_KEY,
                format!(
                    "is required with JWT_ALGORITHM={algorithm:?} and Redis: it seals the signing keys every \
                     replica shares; {KEY_HOWTO} (or give one key in JWT_PRIVATE_KEY_FILE)"
                ),
            );
        }
        let webauthn = relying_party(&mut r, &common.jwt.issuer);
        let key_rotation_secs = r.whole(&JWT_KEY_ROTATION_DAYS).unwrap_or(30) * 86_400;
        let jwks_cache_secs = r.whole(&JWKS_CACHE_SECONDS).unwrap_or(300);

        r.finish(Self {
            common,
            bind_addr,
            api_user,
            api_password,
            api_user_email,
            users_file,
            clients_file,
            builtin_clients: None,
            embedded_store_file,
            refresh_retry_grace_secs,
            session_absolute_timeout_secs: (session_hours * 3600) as i64,
            mfa_issuer_name,
            mfa_valid_window,
            mfa_enabled,
            mfa_encryption_key,
            trusted_proxies,
            rate_limit_login_max_failures,
            rate_limit_login_window_secs,
            rate_limit_ip_per_minute,
            password_hash_concurrency,
            default_virtual_operator,
            saphety_language,
            introspection_clients,
            key_encryption_key,
            private_key_pem,
            key_rotation_secs,
            jwks_cache_secs,
            webauthn,
        })
    }
}

/// Where passkeys may be used: the RP ID (a domain) and the exact origins ceremonies may come from
/// (`WEBAUTHN_RP_ID`, `WEBAUTHN_ORIGINS`).
#[derive(Debug, Clone)]
pub struct RelyingParty {
    pub rp_id: String,
    pub origins: Vec<String>,
}

/// Whether `host` is `rp_id` or a subdomain of it (an origin a passkey of `rp_id` may be used from).
fn under(host: &str, rp_id: &str) -> bool {
    host == rp_id || host.strip_suffix(rp_id).is_some_and(|rest| rest.ends_with('.'))
}

/// The passkeys' relying party: `WEBAUTHN_RP_ID` and `WEBAUTHN_ORIGINS`, or both from an issuer URL
/// (its host, `localhost` for a loopback address, and its origin); `None` (passkeys off) without
/// either. Each origin must be https, or http on localhost, and under the RP ID.
fn relying_party(r: &mut Reader<'_>, issuer: &str) -> Option<RelyingParty> {
    let from_issuer = shared::config::issuer_is_url(issuer)
        .then(|| url::Url::parse(issuer).ok())
        .flatten()
        .and_then(|url| {
            let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
            match url.host()? {
                url::Host::Domain(d) => Some((d.to_ascii_lowercase(), url.origin().ascii_serialization())),
                // An IP address is never an RP ID: browsers take the loopback one as localhost.
                url::Host::Ipv4(_) | url::Host::Ipv6(_) => Some((
                    "localhost".to_string(),
                    format!("{}://localhost{port}", url.scheme()),
                )),
            }
        });
    let rp_id = match r.text(&WEBAUTHN_RP_ID) {
        Some(id) => {
            let id = id.trim().trim_end_matches('.').to_ascii_lowercase();
            let domain_like = !id.is_empty()
                && id.parse::<std::net::IpAddr>().is_err()
                && id.split('.').all(|label| {
                    !label.is_empty() && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                });
            if !domain_like {
                r.error(
                    &WEBAUTHN_RP_ID,
                    "must be a domain (no scheme, port or path; not an IP address): the host the login pages are served under, or a parent of it",
                );
                return None;
            }
            id
        }
        None => from_issuer.as_ref()?.0.clone(),
    };
    let origins: Vec<String> = match r.text(&WEBAUTHN_ORIGINS) {
        Some(list) => list
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(String::from)
            .collect(),
        None => match &from_issuer {
            Some((issuer_rp, origin)) if *issuer_rp == rp_id => vec![origin.clone()],
            _ => vec![format!("https://{rp_id}")],
        },
    };
    let mut checked = Vec::new();
    for origin in &origins {
        let parsed = url::Url::parse(origin).ok().filter(|u| {
            u.path() == "/" && u.query().is_none() && u.fragment().is_none() && u.username().is_empty()
        });
        let Some(url) = parsed else {
            r.error(
                &WEBAUTHN_ORIGINS,
                format!("{origin} is not an origin (scheme://host[:port])"),
            );
            continue;
        };
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let secure = url.scheme() == "https" || (url.scheme() == "http" && host == "localhost");
        if !secure {
            r.error(
                &WEBAUTHN_ORIGINS,
                format!("{origin}: passkeys need https (http only on localhost)"),
            );
        } else if !under(&host, &rp_id) {
            r.error(
                &WEBAUTHN_ORIGINS,
                format!("{origin} is not under WEBAUTHN_RP_ID {rp_id}"),
            );
        } else {
            checked.push(url.origin().ascii_serialization());
        }
    }
    if checked.is_empty() {
        if !origins.is_empty() {
            return None;
        }
        r.error(&WEBAUTHN_ORIGINS, "names no origin");
        return None;
    }
    Some(RelyingParty {
        rp_id,
        origins: checked,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    /// The variables refused, comma-separated, or "accepted".
    fn failing_var(extra: &[(&str, &str)]) -> String {
        let mut pairs = vec![("JWT_SECRET", SECRET), ("API_PASSWORD", "correct horse")];
        pairs.extend_from_slice(extra);
        match AuthConfig::from_pairs(pairs) {
            Ok(_) => "accepted".into(),
            Err(e) => e.vars().join(","),
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
        assert_eq!(c.map(|c| c.api_user_email.as_str()), Some("api_user@example.com"));
        assert_eq!(c.map(|c| c.mfa_valid_window), Some(1));
        assert_eq!(c.map(|c| c.mfa_enabled), Some(true));
        assert_eq!(c.map(|c| c.rate_limit_login_max_failures), Some(5));
        assert_eq!(c.map(|c| c.rate_limit_login_window_secs), Some(900));
        assert_eq!(c.map(|c| c.rate_limit_ip_per_minute), Some(120));
        assert_eq!(c.map(|c| c.default_virtual_operator.as_str()), Some("saphety"));
        assert_eq!(c.map(|c| c.saphety_language.as_str()), Some("es-CO"));
        assert!(c.is_some_and(|c| c.password_hash_concurrency >= 1 && c.users_file.is_none()));
        assert!(c.is_some_and(|c| c.trusted_proxies.is_empty() && c.mfa_encryption_key.is_none()));
    }

    #[test]
    fn every_bad_variable_is_reported_at_once_shared_and_own() {
        assert_eq!(
            failing_var(&[
                ("JWT_ALGORITHM", "none"),
                ("MFA_VALID_WINDOW", "11"),
                ("API_USER_EMAIL", "nope"),
                ("RATE_LIMIT_IP_PER_MINUTE", "0"),
            ]),
            "JWT_ALGORITHM,API_USER_EMAIL,MFA_VALID_WINDOW,RATE_LIMIT_IP_PER_MINUTE"
        );
        assert_eq!(
            AuthConfig::from_pairs([("LOG_FORMAT", "xml")])
                .err()
                .map(|e| e.vars()),
            Some(vec!["LOG_FORMAT", "JWT_SECRET", "API_PASSWORD"])
        );
    }

    #[test]
    fn a_set_but_invalid_mfa_key_is_reported_once() {
        assert_eq!(
            failing_var(&[
                ("REDIS_URL", "redis://127.0.0.1"),
                ("MFA_ENCRYPTION_KEY", "c2hvcnQ=")
            ]),
            "MFA_ENCRYPTION_KEY"
        );
    }

    #[test]
    fn the_tables_declare_each_variable_once_with_a_valid_default() {
        let names: std::collections::BTreeSet<&str> = variables().map(|v| v.name).collect();
        assert_eq!(names.len(), variables().count(), "a variable declared twice");
        // Only the required ones set: every default parses and passes its checks.
        let mut required: Vec<(&str, &str)> = variables()
            .filter(|v| v.default == WhenUnset::Required)
            .map(|v| (v.name, if v.kind == Kind::Secret { SECRET } else { "pw" }))
            .collect();
        assert_eq!(
            required.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            ["API_PASSWORD"]
        );
        // JWT_SECRET is optional in the shared table (a verifier on published keys has none) but the
        // auth service always signs refresh tokens with it, so it is required here.
        let missing = AuthConfig::from_pairs(required.clone()).expect_err("no JWT_SECRET");
        assert_eq!(missing.vars(), ["JWT_SECRET"]);
        required.push(("JWT_SECRET", SECRET));
        assert!(AuthConfig::from_pairs(required).is_ok());
    }

    #[test]
    fn an_empty_api_password_stops_start_up() {
        assert_eq!(failing_var(&[("API_PASSWORD", "")]), "API_PASSWORD");
    }

    /// Production on the embedded store, allowed, so that only the password is in question.
    const PRODUCTION: [(&str, &str); 2] = [("APP_ENV", "production"), ("ALLOW_EMBEDDED_STORE", "true")];

    fn production_with_password(password: &str) -> Result<AuthConfig, ConfigErrors> {
        let mut pairs = vec![("JWT_SECRET", SECRET), ("API_PASSWORD", password)];
        pairs.extend(PRODUCTION);
        AuthConfig::from_pairs(pairs)
    }

    #[test]
    fn the_placeholder_password_is_refused_in_production() {
        assert_eq!(
            failing_var(&[("API_PASSWORD", DEV_PLACEHOLDER_PASSWORD)]),
            "accepted"
        );
        let mut production = vec![("API_PASSWORD", DEV_PLACEHOLDER_PASSWORD)];
        production.extend(PRODUCTION);
        assert_eq!(failing_var(&production), "API_PASSWORD");
    }

    #[test]
    fn production_refuses_a_short_api_password_naming_the_rule() {
        for short in ["a", "pw", "elevenchars"] {
            let e = production_with_password(short).err();
            assert_eq!(
                e.as_ref().map(|e| e.vars()),
                Some(vec!["API_PASSWORD"]),
                "{short}"
            );
            let text = e.map(|e| e.to_string()).unwrap_or_default();
            assert!(
                text.contains("min_length") && text.contains("12 characters"),
                "{text}"
            );
            assert!(
                !text.contains(&format!(" {short} ")),
                "the password is never echoed: {text}"
            );
        }
    }

    #[test]
    fn production_refuses_a_common_api_password_naming_the_rule() {
        for common in ["qwerty123456", "Password1234", "administrator"] {
            let text = production_with_password(common)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(
                text.starts_with("invalid configuration: API_PASSWORD: "),
                "{text}"
            );
            assert!(text.contains("common_password"), "{text}");
            assert!(!text.contains(common), "the password is never echoed: {text}");
        }
    }

    #[test]
    fn production_accepts_a_long_uncommon_api_password() {
        assert!(production_with_password("correct horse battery staple").is_ok());
    }

    #[test]
    fn development_accepts_a_weak_api_password_with_a_warning() {
        let c = AuthConfig::from_pairs([("JWT_SECRET", SECRET), ("API_PASSWORD", "pw")]).ok();
        let warnings = c.map(|c| c.common.warnings).unwrap_or_default();
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("API_PASSWORD") && w.contains("min_length")),
            "{warnings:?}"
        );
    }

    #[test]
    fn production_reports_the_weak_password_with_every_other_problem_at_once() {
        assert_eq!(
            AuthConfig::from_pairs([
                ("JWT_SECRET", SECRET),
                ("API_PASSWORD", "pw"),
                ("APP_ENV", "production"),
                ("MFA_VALID_WINDOW", "11"),
            ])
            .err()
            .map(|e| e.vars()),
            Some(vec!["REDIS_URL", "API_PASSWORD", "MFA_VALID_WINDOW"])
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
            ("JWT_REFRESH_RETRY_GRACE_SECONDS", "301"),
            ("SESSION_ABSOLUTE_TIMEOUT_HOURS", "8785"),
            ("MFA_VALID_WINDOW", "11"),
            ("MFA_ISSUER_NAME", "a:b"),
            ("PASSWORD_HASH_CONCURRENCY", "0"),
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

    fn relying_party_of(extra: &[(&str, &str)]) -> Option<(String, Vec<String>)> {
        let mut pairs = vec![("JWT_SECRET", SECRET), ("API_PASSWORD", "correct horse")];
        pairs.extend_from_slice(extra);
        AuthConfig::from_pairs(pairs)
            .ok()
            .and_then(|c| c.webauthn)
            .map(|rp| (rp.rp_id, rp.origins))
    }

    #[test]
    fn passkeys_take_their_relying_party_from_the_issuer_unless_one_is_set() {
        // An issuer that is not a URL, and no RP ID: passkeys off.
        assert_eq!(relying_party_of(&[]), None);
        let rp = |id: &str, origins: &[&str]| {
            Some((id.to_string(), origins.iter().map(|o| o.to_string()).collect()))
        };
        assert_eq!(
            relying_party_of(&[("JWT_ISSUER", "https://Login.Example.com")]),
            rp("login.example.com", &["https://login.example.com"])
        );
        // A loopback address is never an RP ID: browsers use the name localhost (same port).
        assert_eq!(
            relying_party_of(&[("JWT_ISSUER", "http://127.0.0.1:8000")]),
            rp("localhost", &["http://localhost:8000"])
        );
        assert_eq!(
            relying_party_of(&[("JWT_ISSUER", "http://localhost:8000")]),
            rp("localhost", &["http://localhost:8000"])
        );
        // A parent domain, with origins under it.
        assert_eq!(
            relying_party_of(&[
                ("JWT_ISSUER", "https://login.example.com"),
                ("WEBAUTHN_RP_ID", "example.com"),
                (
                    "WEBAUTHN_ORIGINS",
                    "https://login.example.com, https://cuenta.example.com/"
                ),
            ]),
            rp(
                "example.com",
                &["https://login.example.com", "https://cuenta.example.com"]
            )
        );
        // An RP ID other than the issuer's host, without origins: https on that name.
        assert_eq!(
            relying_party_of(&[("WEBAUTHN_RP_ID", "example.com")]),
            rp("example.com", &["https://example.com"])
        );
    }

    #[test]
    fn a_relying_party_that_browsers_would_refuse_stops_the_start_naming_the_variable() {
        for (extra, var) in [
            (vec![("WEBAUTHN_RP_ID", "127.0.0.1")], "WEBAUTHN_RP_ID"),
            (vec![("WEBAUTHN_RP_ID", "https://example.com")], "WEBAUTHN_RP_ID"),
            (vec![("WEBAUTHN_RP_ID", "example.com:443")], "WEBAUTHN_RP_ID"),
            (
                vec![
                    ("WEBAUTHN_RP_ID", "example.com"),
                    ("WEBAUTHN_ORIGINS", "https://evil.example.org"),
                ],
                "WEBAUTHN_ORIGINS",
            ),
            (
                vec![
                    ("WEBAUTHN_RP_ID", "example.com"),
                    ("WEBAUTHN_ORIGINS", "https://notexample.com"),
                ],
                "WEBAUTHN_ORIGINS",
            ),
            (
                vec![
                    ("WEBAUTHN_RP_ID", "example.com"),
                    ("WEBAUTHN_ORIGINS", "http://example.com"),
                ],
                "WEBAUTHN_ORIGINS",
            ),
            (
                vec![
                    ("WEBAUTHN_RP_ID", "example.com"),
                    ("WEBAUTHN_ORIGINS", "https://example.com/login"),
                ],
                "WEBAUTHN_ORIGINS",
            ),
            (
                vec![("WEBAUTHN_RP_ID", "localhost"), ("WEBAUTHN_ORIGINS", " , ")],
                "WEBAUTHN_ORIGINS",
            ),
        ] {
            assert_eq!(failing_var(&extra), var, "{extra:?}");
        }
        assert_eq!(
            failing_var(&[
                ("WEBAUTHN_RP_ID", "localhost"),
                ("WEBAUTHN_ORIGINS", "http://localhost:3000")
            ]),
            "accepted"
        );
    }
}
