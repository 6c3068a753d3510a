//! The command line: `auth-service` runs the server; `auth-service hash-password` prints the PHC hash
//! of a password for `USERS_FILE`; `auth-service users ...` manages users in the configured store
//! (see [`crate::operator`]); `auth-service keys list|rotate` shows and rotates the signing keys. Parsed
//! by clap, so `--help` and `--version` answer and exit 0, and
//! an unknown subcommand or flag is refused with clap's usage error (exit status 2) instead of
//! starting the server.
//!
//! `hash-password` asks at a terminal (twice, without echo, through rpassword) and otherwise reads
//! standard input whole, so `printf '%s' pw | auth-service hash-password` works in scripts.

use std::io::{IsTerminal, Read};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::passwords::MAX_PASSWORD_CHARS;

/// `auth-service [COMMAND]`.
#[derive(Debug, Parser)]
#[command(
    name = "auth-service",
    version,
    about = "Logs users in and issues, rotates and revokes JWTs. With no command, runs the server \
             (AUTH_BIND_ADDR, default 0.0.0.0:8001).",
    after_help = shared::config::ENVIRONMENT_HELP
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What the binary does besides serving.
#[derive(Debug, Subcommand, PartialEq, Eq)]
pub enum Command {
    /// Print the argon2id PHC hash of a password, for a USERS_FILE entry.
    ///
    /// At a terminal it asks for the password twice without echoing it. Otherwise it reads standard
    /// input to the end and drops one trailing newline: `printf '%s' 'the password' | auth-service
    /// hash-password`.
    HashPassword,
    /// Manage users in the configured store (REDIS_URL, or EMBEDDED_STORE_FILE with the server
    /// stopped), with the service's own environment; no token needed.
    #[command(subcommand)]
    Users(UsersCommand),
    /// The asymmetric signing keys in the configured store (JWT_ALGORITHM EdDSA, ES256 or RS256).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage OAuth 2.0 clients in the configured store, as the admin API does (no token needed).
    #[command(subcommand)]
    Clients(ClientsCommand),
}

/// `auth-service clients ...`.
#[derive(Debug, Subcommand, PartialEq, Eq)]
pub enum ClientsCommand {
    /// List every client.
    List,
    /// Register a client. A confidential one's secret is printed once: keep it then.
    Add {
        /// A name people recognise (shown on the consent screen).
        client_name: String,
        /// Generated when left out.
        #[arg(long)]
        client_id: Option<String>,
        /// A grant it may use (authorization_code, refresh_token, client_credentials); repeatable.
        /// authorization_code when left out.
        #[arg(long = "grant-type")]
        grant_types: Vec<String>,
        /// Space-separated scopes it may ask for.
        #[arg(long)]
        scope: Option<String>,
        /// Where the authorization endpoint may send it back; repeatable.
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// Where logout may send it back; repeatable.
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// client_secret_basic (default), client_secret_post, or none (a public client).
        #[arg(long)]
        token_endpoint_auth_method: Option<String>,
        /// No consent screen.
        #[arg(long)]
        first_party: bool,
    },
    /// Disable a client: it gets no more tokens, and every token it holds is revoked.
    Disable { client_id: String },
    /// Enable a disabled client.
    Enable { client_id: String },
    /// Give a confidential client a new secret (printed once); the previous one stays valid for
    /// --keep-previous-seconds (0: it stops now and the client's tokens are revoked).
    RotateSecret {
        client_id: String,
        #[arg(long, default_value_t = crate::oauth::registry::DEFAULT_PREVIOUS_SECRET_SECS)]
        keep_previous_seconds: i64,
    },
    /// Print a new secret and the client_secret_hash line for a CLIENTS_FILE entry; touches no store.
    NewSecret,
}

/// `auth-service keys ...`.
#[derive(Debug, Subcommand, PartialEq, Eq)]
pub enum KeysCommand {
    /// List the keys: the one that signs, the next (published, not yet signing) and the retiring ones.
    List,
    /// Add a new key now: published at once, it signs after JWKS_CACHE_SECONDS; the one it replaces
    /// stays published until its last token expires.
    Rotate,
}

/// `auth-service users ...`.
#[derive(Debug, Subcommand, PartialEq, Eq)]
pub enum UsersCommand {
    /// List every user.
    List,
    /// Create a user. Without --password-stdin it prints a one-time set-password token (for
    /// POST /auth/password/set) instead.
    Add {
        username: String,
        email: String,
        /// admin or usuario.
        #[arg(long, default_value = "usuario")]
        rol: String,
        #[arg(long)]
        virtual_operator: Option<String>,
        /// Read the password from standard input (or ask twice at a terminal).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disable a user: they cannot log in, and every session of theirs ends.
    Disable { username: String },
    /// Enable a disabled user.
    Enable { username: String },
    /// Set a user's password (asked twice at a terminal, else read from standard input); every
    /// session of theirs ends.
    SetPassword { username: String },
    /// Forget a user's failed logins, so a locked account can log in again.
    Unlock { username: String },
}

/// Why `hash-password` printed no hash.
#[derive(Debug, thiserror::Error)]
pub enum HashInputError {
    #[error("standard input is not UTF-8 text")]
    NotText,
    #[error("the password must be 1 to {MAX_PASSWORD_CHARS} characters")]
    Length,
    #[error("the two passwords do not match; nothing was hashed")]
    Mismatch,
    #[error("cannot read the password: {0}")]
    Read(#[source] std::io::Error),
}

/// The password of a piped input: all of it, less one trailing newline (`\n` or `\r\n`).
pub fn password_from_input(input: &str) -> &str {
    let password = input.strip_suffix('\n').unwrap_or(input);
    password.strip_suffix('\r').unwrap_or(password)
}

/// Asks for the password and for it again through `ask` (a prompt without echo, in the binary);
/// refuses two different answers.
pub fn password_asked_twice(
    mut ask: impl FnMut(&str) -> std::io::Result<String>,
) -> Result<String, HashInputError> {
    let first = ask("Password: ").map_err(HashInputError::Read)?;
    check_length(&first)?;
    let second = ask("Repeat the password: ").map_err(HashInputError::Read)?;
    if first != second {
        return Err(HashInputError::Mismatch);
    }
    Ok(first)
}

fn check_length(password: &str) -> Result<(), HashInputError> {
    if password.is_empty() || password.chars().count() > MAX_PASSWORD_CHARS {
        return Err(HashInputError::Length);
    }
    Ok(())
}

/// The password from the terminal (asked twice) or from standard input (read whole).
pub fn read_password() -> Result<String, HashInputError> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return password_asked_twice(|prompt| rpassword::prompt_password(prompt));
    }
    let mut input = String::new();
    stdin
        .lock()
        .read_to_string(&mut input)
        .map_err(|_| HashInputError::NotText)?;
    let password = password_from_input(&input);
    check_length(password)?;
    Ok(password.to_owned())
}

/// `auth-service hash-password`: the hash on standard output, or a message on standard error and exit
/// status 2 (the input was refused) or 1 (hashing failed).
pub fn hash_password() -> ExitCode {
    let password = match read_password() {
        Ok(password) => password,
        Err(e) => {
            eprintln!("auth-service hash-password: {e}");
            return ExitCode::from(2);
        }
    };
    match crate::passwords::hash_password(&password) {
        Ok(phc) => {
            println!("{phc}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("auth-service hash-password: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn answers(list: &[&str]) -> impl FnMut(&str) -> std::io::Result<String> {
        let mut list: Vec<String> = list.iter().rev().map(|s| s.to_string()).collect();
        move |_| {
            list.pop()
                .ok_or_else(|| std::io::Error::other("asked more often than answered"))
        }
    }

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn no_command_serves_and_hash_password_is_a_command() {
        assert_eq!(
            Cli::try_parse_from(["auth-service"]).ok().map(|c| c.command),
            Some(None)
        );
        assert_eq!(
            Cli::try_parse_from(["auth-service", "hash-password"])
                .ok()
                .map(|c| c.command),
            Some(Some(Command::HashPassword))
        );
    }

    #[test]
    fn a_misspelt_command_or_an_unknown_flag_is_a_usage_error() {
        for args in [
            &["auth-service", "hash-pasword"][..],
            &["auth-service", "--port", "80"],
            &["auth-service", "hash-password", "extra"],
        ] {
            let err = Cli::try_parse_from(args).err();
            assert_eq!(err.map(|e| e.exit_code()), Some(2), "{args:?}");
        }
    }

    #[test]
    fn a_piped_password_loses_one_trailing_newline_only() {
        assert_eq!(password_from_input("pw\n"), "pw");
        assert_eq!(password_from_input("pw\r\n"), "pw");
        assert_eq!(password_from_input("pw"), "pw");
        assert_eq!(password_from_input("pw\n\n"), "pw\n");
        assert_eq!(password_from_input(" pw "), " pw ");
    }

    #[test]
    fn at_a_terminal_the_password_is_asked_twice_and_must_match() {
        assert_eq!(
            password_asked_twice(answers(&["correct horse", "correct horse"])).ok(),
            Some("correct horse".to_string())
        );
        assert!(matches!(
            password_asked_twice(answers(&["correct horse", "correct hrose"])),
            Err(HashInputError::Mismatch)
        ));
    }

    #[test]
    fn an_empty_or_overlong_password_is_refused_before_the_second_question() {
        assert!(matches!(
            password_asked_twice(answers(&[""])),
            Err(HashInputError::Length)
        ));
        let long = "x".repeat(MAX_PASSWORD_CHARS + 1);
        assert!(matches!(
            password_asked_twice(answers(&[&long])),
            Err(HashInputError::Length)
        ));
    }

    #[test]
    fn a_failed_read_is_reported_as_such() {
        assert!(matches!(
            password_asked_twice(answers(&[])),
            Err(HashInputError::Read(_))
        ));
    }
}
