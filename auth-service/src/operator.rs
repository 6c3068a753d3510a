//! `auth-service users ...`: operators manage users without a token, against the store the service is
//! configured with (the same environment as the server). Each command applies the configured users
//! first (idempotent, as every start does), then does one thing through [`crate::accounts`], so the
//! rules (uniqueness, the password policy, sessions ended by a weakening change, the audit line with
//! actor `cli`) are the admin API's. Exit status: 0 done, 2 refused (no such user, taken, weak
//! password, bad input), 1 the store or the configuration failed.
//!
//! The embedded store without a file is in-process memory: a command there would change nothing the
//! server sees, so it is refused. With `EMBEDDED_STORE_FILE`, the file is held by the running server:
//! stop it first, or use the admin API.

use std::process::ExitCode;
use std::sync::Arc;

use shared::config::FromVars;
use shared::{Rol, SystemClock};

use crate::accounts::NewUser;
use crate::app::App;
use crate::audit::Actor;
use crate::cli::{ClientsCommand, KeysCommand, UsersCommand};
use crate::config::AuthConfig;
use crate::refusal::{FieldRule, Refusal};
use crate::users::User;

/// Runs one `users` command; messages on standard error, results on standard output.
pub async fn run(command: UsersCommand) -> ExitCode {
    let config = match AuthConfig::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("auth-service users: {e}");
            return ExitCode::from(1);
        }
    };
    if config.common.redis.is_none() && config.embedded_store_file.is_none() {
        eprintln!(
            "auth-service users: no store to change: set REDIS_URL (or EMBEDDED_STORE_FILE, with the \
             server stopped), as the server is configured"
        );
        return ExitCode::from(1);
    }
    let app = match App::build(config, Arc::new(SystemClock)) {
        Ok(app) => app,
        Err(e) => {
            eprintln!("auth-service users: {e}");
            return ExitCode::from(1);
        }
    };
    if let Err(e) = app.accounts.apply_configuration().await {
        eprintln!("auth-service users: cannot apply the configured users: {e}");
        return ExitCode::from(1);
    }
    match execute(&app, command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(Refusal::Store(e)) => {
            eprintln!("auth-service users: the store does not answer: {e}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("auth-service users: {}", explain(&e));
            ExitCode::from(2)
        }
    }
}

/// Runs one `keys` command against the configured store: 0 done, 2 refused (an HMAC algorithm, a key
/// file), 1 the store or the configuration failed.
pub async fn keys(command: KeysCommand) -> ExitCode {
    let config = match AuthConfig::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("auth-service keys: {e}");
            return ExitCode::from(1);
        }
    };
    let algorithm = config.common.jwt.algorithm;
    if config.common.redis.is_none() && config.embedded_store_file.is_none() {
        eprintln!("auth-service keys: no store to read: set REDIS_URL (or EMBEDDED_STORE_FILE, with the server stopped)");
        return ExitCode::from(1);
    }
    let app = match App::build(config, Arc::new(SystemClock)) {
        Ok(app) => app,
        Err(e) => {
            eprintln!("auth-service keys: {e}");
            return ExitCode::from(1);
        }
    };
    let Some(signing) = &app.signing else {
        eprintln!("auth-service keys: JWT_ALGORITHM={algorithm:?} signs with JWT_SECRET: there are no keys to show or rotate");
        return ExitCode::from(2);
    };
    if let Err(e) = signing.reload().await {
        eprintln!("auth-service keys: {e}");
        return ExitCode::from(1);
    }
    if command == KeysCommand::Rotate {
        match signing.rotate(algorithm).await {
            Ok(record) => println!(
                "added key {} ({}); it signs in {} s, once every backend's copy of the key set has it",
                record.kid,
                record.alg,
                signing.publish_lead().as_secs()
            ),
            Err(e @ crate::signing::KeyError::Key(_)) => {
                eprintln!("auth-service keys: {e}");
                return ExitCode::from(2);
            }
            Err(e) => {
                eprintln!("auth-service keys: {e}");
                return ExitCode::from(1);
            }
        }
    }
    match signing.list().await {
        Ok(keys) => {
            println!("kid\talg\tstate\tcreated\tsigns_from");
            for k in keys {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    k.kid,
                    k.alg,
                    k.state,
                    time_of(k.created_ms),
                    time_of(k.activate_ms)
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("auth-service keys: {e}");
            ExitCode::from(1)
        }
    }
}

/// Runs one `clients` command against the configured store, through the registry the admin API uses:
/// 0 done, 2 refused (no such client, a bad field, a taken id), 1 the store or the configuration failed.
pub async fn clients(command: ClientsCommand) -> ExitCode {
    if command == ClientsCommand::NewSecret {
        let fresh = crate::oauth::registry::new_secret();
        println!("client_secret: {}", fresh.secret);
        println!(
            "client_secret_hash = \"{}:{}\"",
            fresh.stored.salt, fresh.stored.hash
        );
        return ExitCode::SUCCESS;
    }
    let config = match AuthConfig::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("auth-service clients: {e}");
            return ExitCode::from(1);
        }
    };
    if config.common.redis.is_none() && config.embedded_store_file.is_none() {
        eprintln!(
            "auth-service clients: no store to change: set REDIS_URL (or EMBEDDED_STORE_FILE, with the \
             server stopped), as the server is configured"
        );
        return ExitCode::from(1);
    }
    let app = match App::build(config, Arc::new(SystemClock)) {
        Ok(app) => app,
        Err(e) => {
            eprintln!("auth-service clients: {e}");
            return ExitCode::from(1);
        }
    };
    if let Err(e) = app.registry.apply_configuration(&app.configured_clients).await {
        eprintln!("auth-service clients: cannot apply CLIENTS_FILE: {e}");
        return ExitCode::from(1);
    }
    match execute_clients(&app, command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(Refusal::Store(e)) => {
            eprintln!("auth-service clients: the store does not answer: {e}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("auth-service clients: {}", explain(&e));
            ExitCode::from(2)
        }
    }
}

async fn execute_clients(app: &App, command: ClientsCommand) -> Result<(), Refusal> {
    use crate::oauth::registry::{ClientChanges, ClientMetadata};
    let registry = &app.registry;
    match command {
        ClientsCommand::NewSecret => {}
        ClientsCommand::List => {
            println!("client_id\tclient_name\tactive\tgrant_types\tscope\ttoken_endpoint_auth_method");
            for c in registry.list().await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    c.client_id,
                    c.client_name,
                    c.active,
                    c.grant_types.join(","),
                    c.scope,
                    c.token_endpoint_auth_method
                );
            }
        }
        ClientsCommand::Add {
            client_name,
            client_id,
            grant_types,
            scope,
            redirect_uris,
            post_logout_redirect_uris,
            token_endpoint_auth_method,
            first_party,
        } => {
            let metadata = ClientMetadata {
                client_id,
                client_name: Some(client_name),
                redirect_uris,
                post_logout_redirect_uris,
                grant_types: (!grant_types.is_empty()).then_some(grant_types),
                scope,
                token_endpoint_auth_method,
                id_token_signed_response_alg: None,
                backchannel_logout_uri: None,
                first_party,
                client_secret_hash: None,
                active: None,
            };
            let created = registry.create(&metadata, Actor::Cli).await?;
            println!(
                "created client {} (scope: {})",
                created.client.client_id, created.client.scope
            );
            if let Some(secret) = created.secret {
                println!("client_secret (shown this once): {}", secret.secret);
            }
        }
        ClientsCommand::Disable { client_id } => {
            let changes = ClientChanges {
                active: Some(false),
                ..Default::default()
            };
            app.provider.end_client_sessions(&client_id).await?;
            registry.change(&client_id, &changes, Actor::Cli).await?;
            println!("{client_id} disabled; every token it held is revoked");
        }
        ClientsCommand::Enable { client_id } => {
            let changes = ClientChanges {
                active: Some(true),
                ..Default::default()
            };
            registry.change(&client_id, &changes, Actor::Cli).await?;
            println!("{client_id} enabled");
        }
        ClientsCommand::RotateSecret {
            client_id,
            keep_previous_seconds,
        } => {
            let (_, secret) = registry
                .rotate_secret(&client_id, keep_previous_seconds, Actor::Cli)
                .await?;
            println!("client_secret (shown this once): {}", secret.secret);
            if keep_previous_seconds > 0 {
                println!("the previous secret stays valid for {keep_previous_seconds} s");
            } else {
                println!("the previous secret is no longer valid; every token the client held is revoked");
            }
        }
    }
    Ok(())
}

/// A time in ms as RFC 3339 (UTC).
fn time_of(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| ms.to_string())
}

fn explain(refusal: &Refusal) -> String {
    match refusal {
        Refusal::UnknownUser => "no such user".into(),
        Refusal::UnknownClient => "no such client".into(),
        Refusal::Taken(which) => format!("that {which:?} is already taken").to_lowercase(),
        Refusal::WeakPassword { rule, .. } => format!("the password {rule} (rule {})", rule.name()),
        Refusal::Invalid(FieldRule::Rol(rol)) => format!("rol `{rol}` is not admin or usuario"),
        Refusal::Invalid(FieldRule::PasswordEntry(why)) => why.clone(),
        Refusal::Invalid(rule) => crate::routes::detalle(rule),
        other => other.to_string(),
    }
}

async fn user_named(app: &App, username: &str) -> Result<Arc<User>, Refusal> {
    app.accounts
        .by_username(username)
        .await?
        .ok_or(Refusal::UnknownUser)
}

async fn execute(app: &App, command: UsersCommand) -> Result<(), Refusal> {
    let accounts = &app.accounts;
    match command {
        UsersCommand::List => {
            println!("id\tusername\temail\trol\tactive\tvirtual_operator\tpassword_set");
            let mut after = 0;
            loop {
                let page = accounts.list(after, 500).await?;
                for u in &page {
                    println!(
                        "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                        u.id,
                        u.username.as_str(),
                        u.email.as_str(),
                        u.rol.as_str(),
                        u.active,
                        u.virtual_operator,
                        !u.password_hash.is_empty()
                    );
                }
                match page.last() {
                    Some(last) if page.len() == 500 => after = last.id,
                    _ => break,
                }
            }
        }
        UsersCommand::Add {
            username,
            email,
            rol,
            virtual_operator,
            password_stdin,
        } => {
            let rol = Rol::parse(&rol).ok_or_else(|| Refusal::Invalid(FieldRule::Rol(rol.clone())))?;
            let password = if password_stdin {
                Some(
                    crate::cli::read_password()
                        .map_err(|e| Refusal::Invalid(FieldRule::PasswordEntry(e.to_string())))?,
                )
            } else {
                None
            };
            let new = NewUser {
                username,
                email,
                rol,
                virtual_operator,
                password,
            };
            let (user, reset) = accounts.create(new, Actor::Cli).await?;
            println!("created user {} ({})", user.id, user.username.as_str());
            if let Some(reset) = reset {
                println!(
                    "one-time set-password token (good for {} hours; POST /auth/password/set):\n{}",
                    reset.expires_in / 3600,
                    reset.set_password_token
                );
            }
        }
        UsersCommand::Disable { username } => {
            let user = user_named(app, &username).await?;
            let changes = crate::accounts::Changes {
                active: Some(false),
                ..Default::default()
            };
            accounts.change(user.id, changes, Actor::Cli).await?;
            println!(
                "{} disabled; every session of theirs ended",
                user.username.as_str()
            );
        }
        UsersCommand::Enable { username } => {
            let user = user_named(app, &username).await?;
            let changes = crate::accounts::Changes {
                active: Some(true),
                ..Default::default()
            };
            accounts.change(user.id, changes, Actor::Cli).await?;
            println!("{} enabled", user.username.as_str());
        }
        UsersCommand::SetPassword { username } => {
            let user = user_named(app, &username).await?;
            let password = crate::cli::read_password()
                .map_err(|e| Refusal::Invalid(FieldRule::PasswordEntry(e.to_string())))?;
            accounts.set_password(user.id, &password, Actor::Cli).await?;
            println!(
                "password set for {}; every session of theirs ended",
                user.username.as_str()
            );
        }
        UsersCommand::Unlock { username } => {
            let user = user_named(app, &username).await?;
            accounts.unlock(user.id, Actor::Cli).await?;
            println!("{} unlocked", user.username.as_str());
        }
    }
    Ok(())
}
