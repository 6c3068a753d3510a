//! The OAuth 2.0 authorization server's parts, free of warp: [`registry`], the clients; [`token`], the
//! token endpoint's grants.

pub mod registry;
pub mod token;
