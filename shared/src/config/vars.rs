//! How a variable is declared and read: the machinery behind every service's configuration.
//!
//! A variable is a [`VarSpec`] (its name, [`Kind`], [`WhenUnset`] default and the line `.env.example`
//! documents it with), declared with [`declare_vars!`](crate::declare_vars) in a crate's table. A
//! [`Reader`] reads the raw variables ([`RawVars`]) through declarations only, collecting every
//! problem as a [`ConfigError`]; [`unknown_variables`] names the variables set that no service reads.
//! The declarations themselves, and the settings both services share, are in [`super`].

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

/// How a JWT secret is meant to be generated; quoted in every message about one.
pub const SECRET_HOWTO: &str = "generate one with `openssl rand -base64 48` \
(or `python3 -c \"import secrets; print(secrets.token_urlsafe(48))\"`) and set it in .env";

/// How a client secret is meant to be generated (hex: nothing to escape in HTTP Basic).
pub const CLIENT_SECRET_HOWTO: &str = "generate each secret with `openssl rand -hex 32`";

/// How an encryption key is meant to be generated.
pub const KEY_HOWTO: &str = "generate one with `openssl rand -base64 32`";

/// The shortest JWT secret accepted, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;

// ---------------------------------------------------------------------------------------------------
// How a variable is declared

/// What a variable's value parses to; it picks the parse and the message when the value is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Free text, trimmed.
    Text,
    /// A file path.
    Path,
    /// A signing secret of at least [`MIN_SECRET_BYTES`] bytes, taken as is (not trimmed).
    Secret,
    /// Comma-separated signing secrets, each at least [`MIN_SECRET_BYTES`] bytes.
    Secrets,
    /// A password of at most this many characters.
    Password { max_chars: usize },
    /// 32 random bytes in standard base64.
    Key,
    /// A whole number from `min` to `max`; `unit` (may be empty) is said in messages.
    Whole { min: u64, max: u64, unit: &'static str },
    /// `true` or `false`.
    Flag,
    /// One of these words, in any case.
    OneOf(&'static [&'static str]),
    /// An IP address and port.
    Address,
    /// Comma-separated IP addresses or CIDR ranges.
    Networks,
    /// A URL starting with one of these prefixes; never echoed in messages (it may hold a password).
    Url(&'static [&'static str]),
    /// Comma-separated `id:secret` pairs (clients and their secrets), each secret at least
    /// [`MIN_SECRET_BYTES`] bytes; ids of letters, digits, `.`, `_` and `-`.
    Credentials,
}

impl Kind {
    /// Whether the value is a secret: never echoed in a message, never written in docker-compose.yml.
    pub fn is_secret(self) -> bool {
        matches!(
            self,
            Kind::Secret | Kind::Secrets | Kind::Password { .. } | Kind::Key | Kind::Credentials
        )
    }

    /// What a valid value looks like, for messages ("... is not {expected}").
    pub fn expected(self) -> String {
        match self {
            Kind::Text => "text".into(),
            Kind::Path => "a file path".into(),
            Kind::Secret | Kind::Secrets => format!("at least {MIN_SECRET_BYTES} bytes long"),
            Kind::Password { max_chars } => format!("a password of 1 to {max_chars} characters"),
            Kind::Key => "32 random bytes in standard base64".into(),
            Kind::Whole { .. } => "a whole number".into(),
            Kind::Flag => "true or false".into(),
            Kind::OneOf(words) => format!("one of {}", words.join(", ")),
            Kind::Address => "an IP address and port such as 0.0.0.0:8001".into(),
            Kind::Networks => "a list of IP addresses or CIDR ranges".into(),
            Kind::Url(prefixes) => format!("a URL starting with {}", prefixes.join(", ")),
            Kind::Credentials => "a list of client_id:secret pairs".into(),
        }
    }

    /// How to make a good value, when there is more to say than [`Kind::expected`].
    pub fn howto(self) -> Option<&'static str> {
        match self {
            Kind::Secret | Kind::Secrets => Some(SECRET_HOWTO),
            Kind::Credentials => Some(CLIENT_SECRET_HOWTO),
            Kind::Key => Some(KEY_HOWTO),
            _ => None,
        }
    }
}

/// What an unset (or empty) variable means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenUnset {
    /// This value, parsed like a set one (so `.env.example` can show it verbatim).
    Default(&'static str),
    /// Nothing: the feature is off, or the code computes a value (the declaration's doc says which).
    Nothing,
    /// The service refuses to start without it.
    Required,
}

/// One configuration variable, declared once (see [`declare_vars!`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VarSpec {
    /// The name in the environment, upper case.
    pub name: &'static str,
    pub kind: Kind,
    pub default: WhenUnset,
    /// A line of the comment above the variable in `.env.example` (checked by deploy-tests).
    pub doc: &'static str,
}

/// Declares each variable as a `pub const` [`VarSpec`] named like it, and a table of them all:
///
/// ```
/// use shared::config::{Kind, WhenUnset};
/// shared::declare_vars! {
///     /// What this example reads.
///     pub const EXAMPLE;
///     GREETING: Kind::Text, WhenUnset::Default("hola"), "What the service says first.";
/// }
/// assert_eq!(EXAMPLE, &[GREETING]);
/// assert_eq!(GREETING.name, "GREETING");
/// ```
#[macro_export]
macro_rules! declare_vars {
    ($(#[$meta:meta])* $vis:vis const $table:ident; $($name:ident: $kind:expr, $default:expr, $doc:literal;)*) => {
        $(
            #[doc = $doc]
            pub const $name: $crate::config::VarSpec = $crate::config::VarSpec {
                name: stringify!($name),
                kind: $kind,
                default: $default,
                doc: $doc,
            };
        )*
        $(#[$meta])*
        $vis const $table: &[$crate::config::VarSpec] = &[$($name),*];
    };
}

// ---------------------------------------------------------------------------------------------------
// Errors

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

/// Every problem one read of the configuration found, in the order read; never empty. Displayed one
/// per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// The variables named, in order (a variable may appear more than once).
    pub fn vars(&self) -> Vec<&'static str> {
        self.0.iter().map(|e| e.var).collect()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.0.iter()
    }
}

impl From<ConfigError> for ConfigErrors {
    fn from(error: ConfigError) -> Self {
        Self(vec![error])
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

// ---------------------------------------------------------------------------------------------------
// Values

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

// ---------------------------------------------------------------------------------------------------
// Reading

/// The raw variables, as envy reads them (names lower-cased by envy). Everything is a string here so
/// that every parse error can name its variable in our words; read them with a [`Reader`].
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

/// A configuration read from variables, every problem reported at once: from the process environment
/// in `main`, from pairs in tests. Each service's configuration implements [`FromVars::from_vars`];
/// the two ways in come with it.
pub trait FromVars: Sized {
    /// Reads and validates the variables; every problem at once, each naming its variable.
    fn from_vars(vars: &RawVars) -> Result<Self, ConfigErrors>;

    /// Reads and validates the process environment (after `.env`, if present).
    fn from_env() -> Result<Self, ConfigErrors> {
        Self::from_vars(&env_vars())
    }

    /// Reads and validates pairs, never the process environment: what tests use.
    fn from_pairs<I, K, V>(pairs: I) -> Result<Self, ConfigErrors>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self::from_vars(&from_pairs(pairs))
    }
}

/// Reads declared variables, each parsed as its [`Kind`] says, its default applied when it is unset or
/// empty, and every problem kept for [`Reader::finish`].
///
/// Each typed read returns `None` when the variable is unset without a default, or when it is invalid
/// (the error is then recorded, and `finish` refuses the whole configuration, so a placeholder put in
/// its place is never used).
#[derive(Debug)]
pub struct Reader<'a> {
    raw: &'a RawVars,
    errors: Vec<ConfigError>,
}

impl<'a> Reader<'a> {
    pub fn new(raw: &'a RawVars) -> Self {
        Self {
            raw,
            errors: Vec::new(),
        }
    }

    /// The variables as they were read (for [`unknown_variables`]).
    pub fn raw(&self) -> &'a RawVars {
        self.raw
    }

    /// Records a problem found by a check of the caller's own.
    pub fn error(&mut self, spec: &VarSpec, message: impl Into<String>) {
        self.errors.push(ConfigError::new(spec.name, message));
    }

    /// The settings, or every problem found while reading them.
    pub fn finish<T>(self, value: T) -> Result<T, ConfigErrors> {
        if self.errors.is_empty() {
            Ok(value)
        } else {
            Err(ConfigErrors(self.errors))
        }
    }

    /// The value as set, untrimmed; an empty value counts as unset.
    fn set(&self, spec: &VarSpec) -> Option<&'a str> {
        self.raw
            .get(&spec.name.to_ascii_lowercase())
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    /// Whether the variable is set (to something other than blanks).
    pub fn is_set(&self, spec: &VarSpec) -> bool {
        self.set(spec).is_some()
    }

    /// The value as set (trimmed, unless the kind is a secret taken as is) or the default, through
    /// `parse`; a required variable that is unset is recorded here.
    fn get<T>(&mut self, spec: &VarSpec, parse: impl FnOnce(&str) -> Result<T, String>) -> Option<T> {
        let raw = match (self.set(spec), spec.default) {
            (Some(raw), _) if spec.kind == Kind::Secret => raw,
            (Some(raw), _) => raw.trim(),
            (None, WhenUnset::Default(default)) => default,
            (None, WhenUnset::Nothing) => return None,
            (None, WhenUnset::Required) => {
                let howto = spec.kind.howto().unwrap_or("set it in .env");
                self.error(spec, format!("is not set; {howto}"));
                return None;
            }
        };
        match parse(raw) {
            Ok(value) => Some(value),
            Err(message) => {
                self.error(spec, message);
                None
            }
        }
    }

    /// "`raw` is not ...", or without the value when it is a secret.
    fn invalid(spec: &VarSpec, raw: &str) -> String {
        let expected = spec.kind.expected();
        let shown = if spec.kind.is_secret() || matches!(spec.kind, Kind::Url(_)) {
            format!("is not {expected}")
        } else {
            format!("`{raw}` is not {expected}")
        };
        match spec.kind.howto() {
            Some(howto) => format!("{shown}; {howto}"),
            None => shown,
        }
    }

    /// Records that the declaration does not fit the read: a bug, which every test then shows.
    fn mismatch<T>(&mut self, spec: &VarSpec, read_as: &str) -> Option<T> {
        self.error(
            spec,
            format!("is declared as {:?} but read as {read_as} (a bug)", spec.kind),
        );
        None
    }

    /// A [`Kind::Text`] or [`Kind::Path`] variable.
    pub fn text(&mut self, spec: &VarSpec) -> Option<String> {
        if !matches!(spec.kind, Kind::Text | Kind::Path) {
            return self.mismatch(spec, "text");
        }
        self.get(spec, |raw| Ok(raw.to_string()))
    }

    /// A [`Kind::Whole`] variable, within its bounds.
    pub fn whole(&mut self, spec: &VarSpec) -> Option<u64> {
        let Kind::Whole { min, max, unit } = spec.kind else {
            return self.mismatch(spec, "a whole number");
        };
        self.get(spec, |raw| {
            let value: u64 = raw
                .parse()
                .map_err(|_| format!("`{raw}` is not a whole number"))?;
            if (min..=max).contains(&value) {
                Ok(value)
            } else if max != u64::MAX {
                let unit = if unit.is_empty() {
                    String::new()
                } else {
                    format!(" {unit}")
                };
                Err(format!("must be between {min} and {max}{unit}"))
            } else if min == 1 {
                Err("must be greater than zero".into())
            } else {
                Err(format!("must be at least {min}"))
            }
        })
    }

    /// A [`Kind::Flag`] variable: `true` or `false`.
    pub fn flag(&mut self, spec: &VarSpec) -> Option<bool> {
        if spec.kind != Kind::Flag {
            return self.mismatch(spec, "a flag");
        }
        self.get(spec, |raw| raw.parse().map_err(|_| Self::invalid(spec, raw)))
    }

    /// A [`Kind::OneOf`] variable: the declared word it matches, in any case.
    pub fn choice(&mut self, spec: &VarSpec) -> Option<&'static str> {
        let Kind::OneOf(words) = spec.kind else {
            return self.mismatch(spec, "a choice");
        };
        self.get(spec, |raw| {
            words
                .iter()
                .copied()
                .find(|w| w.eq_ignore_ascii_case(raw))
                .ok_or_else(|| Self::invalid(spec, raw))
        })
    }

    /// A [`Kind::Address`] variable.
    pub fn address(&mut self, spec: &VarSpec) -> Option<SocketAddr> {
        if spec.kind != Kind::Address {
            return self.mismatch(spec, "an address");
        }
        self.get(spec, |raw| raw.parse().map_err(|_| Self::invalid(spec, raw)))
    }

    /// A [`Kind::Networks`] variable; unset is the empty list.
    pub fn networks(&mut self, spec: &VarSpec) -> Arc<[ipnet::IpNet]> {
        if spec.kind != Kind::Networks {
            return self.mismatch(spec, "networks").unwrap_or_default();
        }
        self.get(spec, |list| {
            list.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|item| {
                    item.parse::<ipnet::IpNet>()
                        .or_else(|_| item.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                        .map_err(|_| format!("`{item}` is not an IP address or CIDR range"))
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .unwrap_or_default()
        .into()
    }

    /// A [`Kind::Secret`], [`Kind::Password`] or [`Kind::Url`] variable, checked as its kind says.
    pub fn secret(&mut self, spec: &VarSpec) -> Option<Secret> {
        match spec.kind {
            Kind::Secret => self.get(spec, |raw| check_secret_len(raw).map(Secret::new)),
            Kind::Password { max_chars } => self.get(spec, |raw| {
                if raw.chars().count() > max_chars {
                    Err(format!("is longer than {max_chars} characters"))
                } else {
                    Ok(Secret::new(raw))
                }
            }),
            Kind::Url(prefixes) => self.get(spec, |raw| {
                if prefixes.iter().any(|p| raw.starts_with(p)) {
                    Ok(Secret::new(raw))
                } else {
                    let or_empty = match spec.default {
                        WhenUnset::Nothing => ", or be empty",
                        _ => "",
                    };
                    Err(format!("must start with {}{or_empty}", prefixes.join(", ")))
                }
            }),
            _ => self.mismatch(spec, "a secret"),
        }
    }

    /// A [`Kind::Credentials`] variable: `(id, secret)` pairs; unset is the empty list. A malformed
    /// entry is reported by its position, never by its secret.
    pub fn credentials(&mut self, spec: &VarSpec) -> Vec<(String, Secret)> {
        if spec.kind != Kind::Credentials {
            return self.mismatch(spec, "credentials").unwrap_or_default();
        }
        self.get(spec, |list| {
            let mut seen = std::collections::HashSet::new();
            list.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .enumerate()
                .map(|(i, item)| {
                    let n = i + 1;
                    let (id, secret) = item
                        .split_once(':')
                        .ok_or_else(|| format!("entry {n} is not client_id:secret"))?;
                    let id_ok = !id.is_empty()
                        && id
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
                    if !id_ok {
                        return Err(format!(
                            "entry {n}: the client id must be letters, digits, '.', '_' or '-'"
                        ));
                    }
                    if !seen.insert(id.to_string()) {
                        return Err(format!("entry {n}: client `{id}` is listed twice"));
                    }
                    if secret.len() < MIN_SECRET_BYTES {
                        return Err(format!(
                            "entry {n} (client `{id}`): the secret is shorter than {MIN_SECRET_BYTES} bytes; {CLIENT_SECRET_HOWTO}"
                        ));
                    }
                    Ok((id.to_string(), Secret::new(secret)))
                })
                .collect()
        })
        .unwrap_or_default()
    }

    /// A [`Kind::Secrets`] variable; unset is the empty list.
    pub fn secrets(&mut self, spec: &VarSpec) -> Vec<Secret> {
        if spec.kind != Kind::Secrets {
            return self.mismatch(spec, "secrets").unwrap_or_default();
        }
        self.get(spec, |list| {
            list.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|item| check_secret_len(item).map(Secret::new))
                .collect()
        })
        .unwrap_or_default()
    }

    /// A variable of any kind through a parser of the caller's (for types this crate does not know,
    /// such as an encryption key); a failure is reported in the words of the declared kind.
    pub fn parse_with<T, E>(
        &mut self,
        spec: &VarSpec,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<T> {
        self.get(spec, |raw| parse(raw).map_err(|_| Self::invalid(spec, raw)))
    }
}

fn check_secret_len(raw: &str) -> Result<&str, String> {
    if raw.len() < MIN_SECRET_BYTES {
        return Err(format!(
            "is {} bytes long; at least {MIN_SECRET_BYTES} are required; {SECRET_HOWTO}",
            raw.len()
        ));
    }
    Ok(raw)
}

/// `.env.example`, which lists every variable of the workspace and nothing else (deploy-tests checks
/// both ways against the declarations): what a variable read by no service is compared with.
const ENV_EXAMPLE: &str = include_str!("../../../.env.example");

/// The variables that are set but read by no service and look like one that is (a typo, or another
/// product's name for a setting: `JWT_ACCESS_TOKEN_EXPIRES`), each with the closest known name. Names
/// unlike all of ours (`PATH`, `HOSTNAME`, `RUST_LOG`) are left alone.
pub fn unknown_variables(vars: &RawVars) -> Vec<(String, &'static str)> {
    let known: Vec<&'static str> = ENV_EXAMPLE
        .lines()
        .filter_map(|line| line.split_once('=').map(|(name, _)| name.trim()))
        .filter(|name| {
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        })
        .collect();
    let first_word = |name: &str| name.split('_').next().unwrap_or_default().to_string();
    let mut unknown: Vec<(String, &'static str)> = vars
        .keys()
        .map(|name| name.to_ascii_uppercase())
        .filter(|name| !known.contains(&name.as_str()))
        .filter_map(|name| {
            let (closest, score) = known
                .iter()
                .map(|k| (*k, strsim::jaro_winkler(&name, k)))
                .max_by(|a, b| a.1.total_cmp(&b.1))?;
            // Very like a known name, or somewhat like one of the same family (JWT_, REDIS_, MFA_...).
            let alike = score >= 0.9 || (score >= 0.75 && first_word(&name) == first_word(closest));
            alike.then_some((name, closest))
        })
        .collect();
    unknown.sort();
    unknown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_id_secret_pairs_and_a_bad_one_is_named_by_position_never_by_secret() {
        const CLIENTS: VarSpec = VarSpec {
            name: "CLIENTS",
            kind: Kind::Credentials,
            default: WhenUnset::Nothing,
            doc: "d",
        };
        let long = "s".repeat(MIN_SECRET_BYTES);
        let read = |value: &str| {
            let raw = from_pairs([("CLIENTS", value)]);
            let mut r = Reader::new(&raw);
            let got = r.credentials(&CLIENTS);
            r.finish(got).map_err(|e| e.to_string())
        };
        let ok = read(&format!("a:{long}, b.c-d_e:{long}x")).unwrap();
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[1].0, "b.c-d_e");
        assert_eq!(ok[1].1.expose(), format!("{long}x"));
        assert!(read("").unwrap().is_empty());
        for (bad, says) in [
            (format!("a:{long},nocolon"), "entry 2"),
            (format!("a b:{long}"), "client id"),
            (format!(":{long}"), "client id"),
            (format!("a:{long},a:{long}"), "twice"),
            ("a:short-secret-here".to_string(), "shorter than 32 bytes"),
        ] {
            let message = read(&bad).unwrap_err();
            assert!(
                message.contains("CLIENTS") && message.contains(says),
                "{bad}: {message}"
            );
            assert!(
                !message.contains(&long) && !message.contains("short-secret-here"),
                "{message}"
            );
        }
    }
}
