//! Users: the bootstrap administrator from `API_USER`/`API_PASSWORD`, and more from `USERS_FILE`.
//!
//! The directory is read once at start and kept in memory (every replica reads the same file). Each
//! user carries a credential fingerprint: a short hash of their password hash, stored in every session
//! they start, so that changing a password (and restarting) or disabling the user ends their sessions.
//!
//! Usernames and e-mails are looked up and kept unique under the one normalisation of
//! [`crate::identity::normalize`], which the login lock uses too.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use shared::config::ConfigError;
use shared::Rol;

use crate::config::AuthConfig;
use crate::identity::{normalize, Email, Username};
use crate::passwords;

/// A user of the identity provider.
#[derive(Debug, Clone)]
pub struct User {
    pub id: u64,
    pub username: Username,
    pub email: Email,
    pub rol: Rol,
    /// argon2id PHC string.
    pub password_hash: String,
    pub virtual_operator: String,
    pub active: bool,
    /// A short hash of `password_hash`; sessions remember it (see the module doc).
    pub fingerprint: String,
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
}

fn fingerprint(password_hash: &str) -> String {
    let digest = Sha256::new_with_prefix(b"credential:")
        .chain_update(password_hash.as_bytes())
        .finalize();
    hex::encode(&digest[..8])
}

/// Every user, by username, by id and by e-mail.
#[derive(Debug, Default)]
pub struct Directory {
    by_username: HashMap<String, Arc<User>>,
    by_id: HashMap<u64, Arc<User>>,
    by_email: HashMap<String, Arc<User>>,
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

impl Directory {
    /// The bootstrap user (id 1), then `USERS_FILE` if set.
    pub fn load(config: &AuthConfig) -> Result<Self, ConfigError> {
        let mut dir = Directory::default();
        let bootstrap_hash = passwords::hash_deterministic(&config.api_user, config.api_password.expose())
            .map_err(|e| ConfigError::new("API_PASSWORD", e.to_string()))?;
        dir.insert(User {
            id: 1,
            username: Username::parse(&config.api_user).map_err(|e| ConfigError::new("API_USER", e))?,
            email: Email::parse(&config.api_user_email).map_err(|e| ConfigError::new("API_USER_EMAIL", e))?,
            rol: Rol::Admin,
            fingerprint: fingerprint(&bootstrap_hash),
            password_hash: bootstrap_hash,
            virtual_operator: config.default_virtual_operator.clone(),
            active: true,
        })
        .map_err(|e| ConfigError::new("API_USER", e))?;
        if let Some(path) = &config.users_file {
            dir.load_file(path, &config.default_virtual_operator)?;
        }
        Ok(dir)
    }

    fn load_file(&mut self, path: &Path, default_operator: &str) -> Result<(), ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new("USERS_FILE", format!("cannot read {}: {e}", path.display())))?;
        self.load_toml(&text, default_operator)
    }

    /// Adds the users of a `USERS_FILE` document; every error names the entry.
    pub fn load_toml(&mut self, text: &str, default_operator: &str) -> Result<(), ConfigError> {
        let file: UsersFile = toml::from_str(text)
            .map_err(|e| ConfigError::new("USERS_FILE", format!("is not valid: {}", e.message())))?;
        let mut next_id = self.by_id.keys().max().copied().unwrap_or(0) + 1;
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
            let id = entry.id.unwrap_or(next_id);
            if id == 0 {
                return Err(err("id must be positive".into()));
            }
            next_id = next_id.max(id + 1);
            self.insert(User {
                id,
                username,
                email,
                rol,
                fingerprint: fingerprint(&entry.password_hash),
                password_hash: entry.password_hash,
                virtual_operator,
                active: entry.active.unwrap_or(true),
            })
            .map_err(err)?;
        }
        Ok(())
    }

    fn insert(&mut self, user: User) -> Result<(), String> {
        let email_key = normalize(user.email.as_str());
        let username_key = normalize(user.username.as_str());
        if self.by_username.contains_key(&username_key) {
            return Err(format!("username `{}` is used twice", user.username.as_str()));
        }
        if self.by_id.contains_key(&user.id) {
            return Err(format!("id {} is used twice", user.id));
        }
        if self.by_email.contains_key(&email_key) {
            return Err(format!("e-mail `{}` is used twice", user.email.as_str()));
        }
        let user = Arc::new(user);
        self.by_username.insert(username_key, user.clone());
        self.by_id.insert(user.id, user.clone());
        self.by_email.insert(email_key, user);
        Ok(())
    }

    /// The user whose username is `username` under [`normalize`].
    pub fn by_username(&self, username: &str) -> Option<Arc<User>> {
        self.by_username.get(&normalize(username)).cloned()
    }

    pub fn by_id(&self, id: u64) -> Option<Arc<User>> {
        self.by_id.get(&id).cloned()
    }

    /// The user a token's `sub` names, if it is a well-formed id.
    pub fn by_sub(&self, sub: &str) -> Option<Arc<User>> {
        sub.parse().ok().and_then(|id| self.by_id(id))
    }

    /// The user whose e-mail is `email` under [`normalize`].
    pub fn by_email(&self, email: &str) -> Option<Arc<User>> {
        self.by_email.get(&normalize(email)).cloned()
    }

    /// Every user, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<User>> {
        self.by_id.values()
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn the_bootstrap_user_is_an_admin_with_id_1() {
        let dir = Directory::load(&config()).unwrap_or_else(|e| panic!("{e}"));
        let u = dir
            .by_username("api_user")
            .unwrap_or_else(|| panic!("no bootstrap user"));
        assert_eq!((u.id, u.rol, u.active), (1, Rol::Admin, true));
        assert_eq!(u.virtual_operator, "saphety");
        assert!(dir.by_email("API_USER@example.com").is_some());
    }

    #[test]
    fn the_users_file_adds_users_with_defaults() {
        let mut dir = Directory::load(&config()).unwrap_or_else(|e| panic!("{e}"));
        let text = format!(
            "[[users]]\nusername = \"maria\"\nemail = \"maria@example.com\"\nrol = \"usuario\"\npassword_hash = \"{}\"\n\
             [[users]]\nid = 10\nusername = \"ops\"\nemail = \"ops@example.com\"\nrol = \"admin\"\npassword_hash = \"{}\"\nvirtual_operator = \"acme\"\nactive = false\n",
            phc(),
            phc()
        );
        dir.load_toml(&text, "saphety").unwrap_or_else(|e| panic!("{e}"));
        let maria = dir.by_username("maria").unwrap_or_else(|| panic!("no maria"));
        assert_eq!((maria.id, maria.rol, maria.active), (2, Rol::Usuario, true));
        let ops = dir.by_id(10).unwrap_or_else(|| panic!("no ops"));
        assert_eq!((ops.virtual_operator.as_str(), ops.active), ("acme", false));
    }

    #[test]
    fn a_bad_entry_stops_the_start_naming_the_entry() {
        let mut dir = Directory::load(&config()).unwrap_or_else(|e| panic!("{e}"));
        let text = format!(
            "[[users]]\nusername = \"maria\"\nemail = \"maria@example.com\"\nrol = \"jefe\"\npassword_hash = \"{}\"\n",
            phc()
        );
        let err = dir
            .load_toml(&text, "saphety")
            .err()
            .unwrap_or_else(|| panic!("accepted"));
        assert_eq!(err.var, "USERS_FILE");
        assert!(err.message.contains("entry 1 (maria)"), "{}", err.message);

        let weak = "[[users]]\nusername = \"w\"\nemail = \"w@example.com\"\nrol = \"usuario\"\npassword_hash = \"$argon2id$v=19$m=4096,t=3,p=1$c29tZXNhbHQ$iWh06vD8Fy27wf9npn6FXWiCX4K6pW6Ue1Bnzz07Z8A\"\n";
        let err = dir
            .load_toml(weak, "saphety")
            .err()
            .unwrap_or_else(|| panic!("accepted"));
        assert!(err.message.contains("below the minimum"), "{}", err.message);

        let dup = format!(
            "[[users]]\nusername = \"api_user\"\nemail = \"x@example.com\"\nrol = \"usuario\"\npassword_hash = \"{}\"\n",
            phc()
        );
        assert!(dir.load_toml(&dup, "saphety").is_err());

        let alike = format!(
            "[[users]]\nusername = \"API_USER\"\nemail = \"y@example.com\"\nrol = \"usuario\"\npassword_hash = \"{}\"\n",
            phc()
        );
        let err = dir
            .load_toml(&alike, "saphety")
            .err()
            .unwrap_or_else(|| panic!("a username equal under normalisation was accepted"));
        assert!(err.message.contains("used twice"), "{}", err.message);
    }

    #[test]
    fn lookups_use_the_one_normalisation() {
        let dir = Directory::load(&config()).unwrap_or_else(|e| panic!("{e}"));
        assert!(dir.by_username(" API_User ").is_some());
        assert!(dir.by_email(" Api_User@EXAMPLE.com").is_some());
    }
}
