//! Users: who they are ([`User`]), and the ones configuration declares: the bootstrap administrator
//! from `API_USER`/`API_PASSWORD`, and more from `USERS_FILE` ([`configured`]).
//!
//! Users live in the store (see [`crate::accounts`]), so every replica sees a change at once; the
//! configured ones are applied to it at start. Each configured entry carries a digest of what it
//! declares; the store remembers the digest last applied to each user, so an entry is applied again
//! only when it changed in the configuration, and a change made live (admin API, CLI, a password change)
//! stands until then. A user has a credential fingerprint (a short hash of their password hash): every
//! session remembers it from login, so a new password ends the others ([`crate::store`]).
//!
//! Usernames and e-mails are looked up and kept unique under the one normalisation of
//! [`crate::identity::normalize`], which the login lock uses too.

use std::collections::HashSet;
use std::path::Path;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use shared::config::ConfigError;
use shared::Rol;

use crate::config::AuthConfig;
use crate::identity::{normalize, Email, Username};
use crate::passwords;
use crate::store::{fingerprint, StoreError, UserRecord};

/// A user of the identity provider.
#[derive(Debug, Clone)]
pub struct User {
    pub id: u64,
    pub username: Username,
    pub email: Email,
    pub rol: Rol,
    /// argon2id PHC string; empty while the user has no password (a set-password token pending).
    pub password_hash: String,
    pub virtual_operator: String,
    pub active: bool,
    /// The store's version of this record (see [`crate::store::UserStore::update_user`]).
    pub version: u64,
    /// The digest of the configuration entry last applied; empty if none.
    pub config: String,
    /// The pending set-password token's hash and expiry, or empty.
    pub reset: String,
}

/// The `user` object of the login response and `/auth/me`: what a client may see of a user.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct PublicUser<'a> {
    pub id: u64,
    pub username: &'a str,
    pub email: &'a str,
    pub rol: Rol,
}

impl User {
    pub fn public(&self) -> PublicUser<'_> {
        PublicUser {
            id: self.id,
            username: self.username.as_str(),
            email: self.email.as_str(),
            rol: self.rol,
        }
    }

    /// A short hash of `password_hash`; sessions remember it (see the module doc). Computed when a
    /// session starts, not for every request that reads the user.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.password_hash)
    }

    /// A user from the store's record; a record that does not parse is a store fault.
    pub fn from_record(record: UserRecord) -> Result<Self, StoreError> {
        let bad = |what: &str| StoreError::Protocol(format!("user {} has a bad {what}", record.id));
        Ok(Self {
            id: record.id,
            username: Username::parse(&record.username).map_err(|_| bad("username"))?,
            email: Email::stored(&record.email),
            rol: Rol::parse(&record.rol).ok_or_else(|| bad("rol"))?,
            password_hash: record.password_hash,
            virtual_operator: record.virtual_operator,
            active: record.active,
            version: record.version,
            config: record.config,
            reset: record.reset,
        })
    }

    /// The store's record of this user.
    pub fn to_record(&self) -> UserRecord {
        UserRecord {
            id: self.id,
            username: self.username.as_str().to_string(),
            email: self.email.as_str().to_string(),
            rol: self.rol.as_str().to_string(),
            password_hash: self.password_hash.clone(),
            virtual_operator: self.virtual_operator.clone(),
            active: self.active,
            version: self.version,
            config: self.config.clone(),
            reset: self.reset.clone(),
        }
    }

    /// The keys the store indexes this user under: normalised username and e-mail.
    pub fn index_keys(&self) -> (String, String) {
        (normalize(self.username.as_str()), normalize(self.email.as_str()))
    }
}

/// A user configuration declares, and where (for error messages).
#[derive(Debug, Clone)]
pub struct Configured {
    /// `id` 0 when the entry names none; `config` holds the entry's digest.
    pub user: User,
    pub label: String,
}

/// The digest of what a configuration entry declares: applied again only when it changes.
fn digest(user: &User) -> String {
    let mut h = Sha256::new_with_prefix(b"configured-user:v1");
    for part in [
        user.username.as_str(),
        user.email.as_str(),
        user.rol.as_str(),
        &user.password_hash,
        &user.virtual_operator,
        if user.active { "1" } else { "0" },
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(&h.finalize()[..16])
}

fn declared(
    id: u64,
    username: Username,
    email: Email,
    rol: Rol,
    password_hash: String,
    virtual_operator: String,
    active: bool,
) -> User {
    let mut user = User {
        id,
        username,
        email,
        rol,
        password_hash,
        virtual_operator,
        active,
        version: 0,
        config: String::new(),
        reset: String::new(),
    };
    user.config = digest(&user);
    user
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UsersFile {
    #[serde(default)]
    users: Vec<FileUser>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileUser {
    id: Option<u64>,
    username: String,
    email: String,
    rol: String,
    password_hash: String,
    virtual_operator: Option<String>,
    active: Option<bool>,
}

/// The users configuration declares: the bootstrap user (id 1), then `USERS_FILE` if set. Usernames,
/// e-mails and ids must not repeat (under [`normalize`]); every error names the entry.
pub(crate) fn configured(config: &AuthConfig) -> Result<Vec<Configured>, ConfigError> {
    let bootstrap_hash = passwords::hash_deterministic(&config.api_user, config.api_password.expose())
        .map_err(|e| ConfigError::new("API_PASSWORD", e.to_string()))?;
    let mut users = vec![Configured {
        user: declared(
            1,
            Username::parse(&config.api_user).map_err(|e| ConfigError::new("API_USER", e))?,
            Email::parse(&config.api_user_email).map_err(|e| ConfigError::new("API_USER_EMAIL", e))?,
            Rol::Admin,
            bootstrap_hash,
            config.default_virtual_operator.clone(),
            true,
        ),
        label: "API_USER".into(),
    }];
    if let Some(path) = &config.users_file {
        let text = read_file(path)?;
        users.extend(parse_users_file(&text, &config.default_virtual_operator)?);
    }
    check_unique(&users)?;
    Ok(users)
}

fn read_file(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new("USERS_FILE", format!("cannot read {}: {e}", path.display())))
}

/// The users of a `USERS_FILE` document; every error names the entry.
pub(crate) fn parse_users_file(text: &str, default_operator: &str) -> Result<Vec<Configured>, ConfigError> {
    let file: UsersFile = toml::from_str(text)
        .map_err(|e| ConfigError::new("USERS_FILE", format!("is not valid: {}", e.message())))?;
    let mut out = Vec::new();
    for (index, entry) in file.users.into_iter().enumerate() {
        let label = format!("entry {} ({})", index + 1, entry.username);
        let err = |msg: String| ConfigError::new("USERS_FILE", format!("{label}: {msg}"));
        let username = Username::parse(&entry.username).map_err(err)?;
        let email = Email::parse(&entry.email).map_err(err)?;
        let rol = Rol::parse(&entry.rol)
            .ok_or_else(|| err(format!("rol `{}` is not admin or usuario", entry.rol)))?;
        passwords::check_phc(&entry.password_hash).map_err(err)?;
        let virtual_operator = entry.virtual_operator.unwrap_or_else(|| default_operator.into());
        if virtual_operator.trim().is_empty() {
            return Err(err("virtual_operator is empty".into()));
        }
        if entry.id == Some(0) {
            return Err(err("id must be positive".into()));
        }
        out.push(Configured {
            user: declared(
                entry.id.unwrap_or(0),
                username,
                email,
                rol,
                entry.password_hash,
                virtual_operator,
                entry.active.unwrap_or(true),
            ),
            label: format!("USERS_FILE {label}"),
        });
    }
    Ok(out)
}

fn check_unique(users: &[Configured]) -> Result<(), ConfigError> {
    let (mut names, mut emails, mut ids) = (HashSet::new(), HashSet::new(), HashSet::new());
    for c in users {
        let var = if c.label == "API_USER" {
            "API_USER"
        } else {
            "USERS_FILE"
        };
        let (name_key, email_key) = c.user.index_keys();
        let label = c.label.trim_start_matches("USERS_FILE ");
        if !names.insert(name_key) {
            return Err(ConfigError::new(
                var,
                format!("{label}: username `{}` is used twice", c.user.username.as_str()),
            ));
        }
        if !emails.insert(email_key) {
            return Err(ConfigError::new(
                var,
                format!("{label}: e-mail `{}` is used twice", c.user.email.as_str()),
            ));
        }
        if c.user.id != 0 && !ids.insert(c.user.id) {
            return Err(ConfigError::new(
                var,
                format!("{label}: id {} is used twice", c.user.id),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::config::FromVars;

    fn config() -> AuthConfig {
        AuthConfig::from_pairs([
            ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
            ("API_PASSWORD", "pw"),
        ])
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn phc() -> String {
        passwords::hash_password("x").unwrap_or_default()
    }

    fn with_file(text: &str) -> Result<Vec<Configured>, ConfigError> {
        let mut users = configured(&config())?;
        users.extend(parse_users_file(text, "saphety")?);
        check_unique(&users)?;
        Ok(users)
    }

    #[test]
    fn the_bootstrap_user_is_an_admin_with_id_1() {
        let users = configured(&config()).unwrap_or_else(|e| panic!("{e}"));
        let u = &users[0].user;
        assert_eq!((u.id, u.rol, u.active), (1, Rol::Admin, true));
        assert_eq!(u.username.as_str(), "api_user");
        assert_eq!(u.virtual_operator, "saphety");
        assert!(!u.config.is_empty());
        // Deterministic: every replica declares the same digest, so none re-applies it.
        assert_eq!(configured(&config()).unwrap()[0].user.config, u.config);
    }

    #[test]
    fn the_users_file_adds_users_with_defaults() {
        let text = format!(
            "[[users]]\nusername = \"maria\"\nemail = \"maria@example.com\"\nrol = \"usuario\"\npassword_hash = \"{}\"\n\
             [[users]]\nid = 10\nusername = \"ops\"\nemail = \"ops@example.com\"\nrol = \"admin\"\npassword_hash = \"{}\"\nvirtual_operator = \"acme\"\nactive = false\n",
            phc(),
            phc()
        );
        let users = with_file(&text).unwrap_or_else(|e| panic!("{e}"));
        let maria = &users[1].user;
        assert_eq!((maria.id, maria.rol, maria.active), (0, Rol::Usuario, true));
        let ops = &users[2].user;
        assert_eq!(
            (ops.id, ops.virtual_operator.as_str(), ops.active),
            (10, "acme", false)
        );
    }

    #[test]
    fn a_changed_entry_has_another_digest() {
        let a = declared(
            0,
            Username::parse("a").unwrap(),
            Email::parse("a@x.io").unwrap(),
            Rol::Usuario,
            "h".into(),
            "s".into(),
            true,
        );
        let b = declared(
            0,
            Username::parse("a").unwrap(),
            Email::parse("a@x.io").unwrap(),
            Rol::Usuario,
            "h".into(),
            "s".into(),
            false,
        );
        let c = declared(
            0,
            Username::parse("a").unwrap(),
            Email::parse("a@x.io").unwrap(),
            Rol::Admin,
            "h".into(),
            "s".into(),
            true,
        );
        assert_ne!(a.config, b.config);
        assert_ne!(a.config, c.config);
    }

    #[test]
    fn a_bad_entry_stops_the_start_naming_the_entry() {
        let text = format!(
            "[[users]]\nusername = \"maria\"\nemail = \"maria@example.com\"\nrol = \"jefe\"\npassword_hash = \"{}\"\n",
            phc()
        );
        let err = with_file(&text).err().unwrap_or_else(|| panic!("accepted"));
        assert_eq!(err.var, "USERS_FILE");
        assert!(err.message.contains("entry 1 (maria)"), "{}", err.message);

        let weak = "[[users]]\nusername = \"w\"\nemail = \"w@example.com\"\nrol = \"usuario\"\npassword_hash = \"$argon2id$v=19$m=4096,t=3,p=1$c29tZXNhbHQ$iWh06vD8Fy27wf9npn6FXWiCX4K6pW6Ue1Bnzz07Z8A\"\n";
        let err = with_file(weak).err().unwrap_or_else(|| panic!("accepted"));
        assert!(err.message.contains("below the minimum"), "{}", err.message);

        let dup = format!(
            "[[users]]\nusername = \"api_user\"\nemail = \"x@example.com\"\nrol = \"usuario\"\npassword_hash = \"{}\"\n",
            phc()
        );
        assert!(with_file(&dup).is_err());

        let alike = format!(
            "[[users]]\nusername = \"API_USER\"\nemail = \"y@example.com\"\nrol = \"usuario\"\npassword_hash = \"{}\"\n",
            phc()
        );
        let err = with_file(&alike)
            .err()
            .unwrap_or_else(|| panic!("a username equal under normalisation was accepted"));
        assert!(err.message.contains("used twice"), "{}", err.message);
    }

    #[test]
    fn a_record_round_trips_and_a_bad_one_is_a_store_fault() {
        let user = configured(&config()).unwrap()[0].user.clone();
        let back = User::from_record(user.to_record()).unwrap();
        assert_eq!(back.to_record(), user.to_record());
        let mut bad = user.to_record();
        bad.rol = "jefe".into();
        assert!(User::from_record(bad).is_err());
    }
}
