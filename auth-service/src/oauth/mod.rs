//! The OAuth 2.0 authorization server and OpenID Provider's parts, free of warp: [`registry`], the
//! clients; [`token`], the token endpoint's grants; [`authorize`], authorization requests, codes and
//! consents; [`bearer`], the secrets they hand out; [`browser`], the hosted login page's browser sessions; [`id_token`], ID tokens and the
//! claims of `userinfo`.

pub mod authorize;
pub mod bearer;
pub mod browser;
pub mod id_token;
pub mod registry;
pub mod token;
