//! Settings types that configuration builds and the modules above it use: where Redis is, how stale
//! the revocation feed may be, whether an algorithm is an HMAC one. Here, below [`crate::config`], so
//! configuration imports nothing from the modules that take its values (they re-export these where
//! they were named before).

use std::time::Duration;

use jsonwebtoken::Algorithm;

/// What a request gets when the feed is stale past the bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenStale {
    /// 503 SERVICE_UNAVAILABLE: nothing is accepted unchecked (the default).
    FailClosed,
    /// Accepted, with a warning in the log and `revocation_stale_accepted_total` counted.
    Allow,
}

/// How stale the feed may be, and what happens past that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedSettings {
    pub max_staleness: Duration,
    pub when_stale: WhenStale,
}

impl Default for FeedSettings {
    fn default() -> Self {
        Self {
            max_staleness: Duration::from_secs(5),
            when_stale: WhenStale::FailClosed,
        }
    }
}

/// Where Redis is (see the module doc). Its `Debug` never shows a URL, which may hold a password.
#[derive(Clone, PartialEq, Eq)]
pub enum RedisTarget {
    /// One server: `REDIS_URL`.
    Url(String),
    /// The primary named `master` by these Sentinels (`host`, `port`).
    Sentinel {
        sentinels: Vec<(String, u16)>,
        master: String,
    },
    /// A Redis Cluster, found from these seed nodes (`redis://host:port` URLs).
    Cluster { nodes: Vec<String> },
}

impl RedisTarget {
    /// Whether keys spread over hash slots on several servers: an operation's keys must then share one
    /// hash tag, and what spans two slots is two calls.
    pub fn is_cluster(&self) -> bool {
        matches!(self, RedisTarget::Cluster { .. })
    }
}

impl std::fmt::Debug for RedisTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RedisTarget::Url(_) => f.write_str("RedisTarget::Url(..)"),
            RedisTarget::Sentinel { sentinels, master } => f
                .debug_struct("RedisTarget::Sentinel")
                .field("sentinels", sentinels)
                .field("master", master)
                .finish(),
            RedisTarget::Cluster { nodes } => f
                .debug_struct("RedisTarget::Cluster")
                .field("seed_nodes", &nodes.len())
                .finish_non_exhaustive(),
        }
    }
}
/// Whether `algorithm` is one of the HMAC ones (a shared secret signs and verifies).
pub fn is_hmac(algorithm: Algorithm) -> bool {
    matches!(algorithm, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}
