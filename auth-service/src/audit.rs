//! The audit trail: each admin action and security event is one log line under the `audit` target,
//! with the event, who did it (`actor`: a user id, `cli`, `config`, or `-` for an anonymous client),
//! whom it concerns (`target_user`), and the request id (the `request` span every request runs in
//! carries `request_id`; the JSON format prints it with the line), and one count of
//! `auth_audit_events_total{event}`. Never a password, hash, token or code.
//!
//! Events: `user_created`, `user_updated`, `user_disabled`, `user_enabled`, `role_changed`,
//! `password_reset`, `password_set`, `password_changed`, `account_unlocked`, `sessions_ended`,
//! `login_locked`, `refresh_reuse_detected`, `mfa_enabled`, `mfa_disabled`, `passkey_added`,
//! `passkey_removed`, `passkey_counter_regressed` (a passkey whose signature counter went backwards: a
//! cloned authenticator?), `config_applied`.

use shared::metrics::metrics;

/// Who acted.
#[derive(Debug, Clone, Copy)]
pub enum Actor {
    /// An authenticated user (an admin, or the user themself).
    User(u64),
    /// The operator's command line.
    Cli,
    /// Configuration applied at start.
    Config,
    /// A client not (yet) authenticated: a failed login, a presented refresh token.
    Anonymous,
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Actor::User(id) => write!(f, "{id}"),
            Actor::Cli => f.write_str("cli"),
            Actor::Config => f.write_str("config"),
            Actor::Anonymous => f.write_str("-"),
        }
    }
}

/// Records one event (see the module doc); `detail` is free text without secrets.
pub(crate) fn record(event: &'static str, actor: Actor, target_user: &str, detail: &str) {
    metrics().audit_events.with_label_values(&[event]).inc();
    let request_id = shared::server::current_request_id().unwrap_or_else(|| "-".into());
    tracing::info!(target: "audit", event, actor = %actor, target_user, request_id = %request_id, detail, "audit");
}
