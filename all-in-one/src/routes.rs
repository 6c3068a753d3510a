//! The gateway's routing, in process: where each path goes ([`destination`], the table of
//! `deploy/gateway.conf.template`), the one route table of the listener ([`table`]), and the filter
//! that sends each request to the service the gateway would send it to ([`routes`]).
//!
//! | path | goes to |
//! |---|---|
//! | `/auth/...`, `/v2/auth/...`, `/admin/...`, `/oauth2/...`, `/.well-known/...` | the auth service's routes (which answer 404/405 for what they lack) |
//! | `/cuenta`, `/cuenta/...` | the auth service's account page (its files; 404 for anything else under it) |
//! | `/solicitud`, `/solicitud/...` | the solicitud service's routes |
//! | `/health` | this process: `GET` answers 200 while it runs |
//! | anything else (`/auth`, `/ready`, `/metrics`, `/openapi.json`, ...) | 404 in the error envelope |
//!
//! One difference, on purpose: nginx answers `/health` to any method; here only `GET` is 200, and
//! another method is 405 with `Allow: GET`, like every route of the services.

use std::sync::OnceLock;

use shared::routing::{Route, Router};
use warp::path::FullPath;
use warp::{Filter, Rejection};

/// Where the gateway sends a request for a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    Auth,
    Solicitud,
    /// The gateway's (here: this process's) own `/health`.
    Health,
    /// A 404 in the error envelope.
    NotFound,
}

/// Where the gateway sends `path` (its `location` blocks: five prefixes and the account page's exact
/// path and prefix for the auth service, an exact path and a prefix for the solicitud service, its own
/// `/health`, 404 for the rest).
pub fn destination(path: &str) -> Destination {
    if path.starts_with("/auth/")
        || path.starts_with("/v2/auth/")
        || path.starts_with("/admin/")
        || path.starts_with("/oauth2/")
        || path.starts_with("/.well-known/")
        || path == "/cuenta"
        || path.starts_with("/cuenta/")
    {
        Destination::Auth
    } else if path == "/solicitud" || path.starts_with("/solicitud/") {
        Destination::Solicitud
    } else if path == "/health" {
        Destination::Health
    } else {
        Destination::NotFound
    }
}

/// The routes of this process's own (the health check).
const OWN: &[Route] = &[Route {
    template: "/health",
    methods: &["GET"],
}];

/// Every route the listener serves: its own `/health`, and each service route the gateway lets
/// through (neither service's `/health`, `/ready`, `/metrics` or `/openapi.json`). It labels the
/// metrics; each service's own table still answers its 404s and 405s.
pub fn table() -> &'static [Route] {
    static TABLE: OnceLock<Vec<Route>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let services = auth_service::routes::table()
            .iter()
            .chain(solicitud_service::routes::table())
            .filter(|r| {
                matches!(
                    destination(r.template),
                    Destination::Auth | Destination::Solicitud
                )
            });
        OWN.iter().chain(services).copied().collect()
    })
}

/// Passes the requests whose path goes to `to`.
fn towards(to: Destination) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::path::full()
        .and_then(move |path: FullPath| async move {
            if destination(path.as_str()) == to {
                Ok(())
            } else {
                Err(warp::reject::not_found())
            }
        })
        .untuple_one()
}

/// Both services' routes behind the gateway's routing; every request gets an answer in the envelope.
/// Each route of [`table`] is answered by the service that serves it, with that service's own filter
/// ([`Router::filter_for_template`]); a path no route takes gets the 404 (or 405) of the service the
/// gateway would send it to, or this process's own.
pub fn router(auth: &auth_service::app::App, solicitud: &solicitud_service::app::App) -> Router {
    let auth = auth_service::routes::router(auth);
    let solicitud = solicitud_service::routes::router(solicitud);
    let own = Router::new(OWN, vec![shared::ops::health()]);
    let table = table();
    let by_route = table
        .iter()
        .map(|route| {
            let serving = match destination(route.template) {
                Destination::Auth => &auth,
                Destination::Solicitud => &solicitud,
                Destination::Health | Destination::NotFound => &own,
            };
            serving
                .filter_for_template(route.template)
                .unwrap_or(serving.fallback())
                .clone()
        })
        .collect();
    // Each service's fallback answers everything it is given (its own 404, 405), so a request that
    // passes `towards` never falls through to the next branch.
    let fallback = towards(Destination::Auth)
        .and(auth.fallback().clone())
        .or(towards(Destination::Solicitud).and(solicitud.fallback().clone()))
        .unify()
        .or(own.fallback().clone())
        .unify()
        .boxed();
    Router::from_parts(table, by_route, fallback)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_path_goes_where_the_gateway_sends_it() {
        for (path, to) in [
            ("/auth/login", Destination::Auth),
            ("/auth/", Destination::Auth),
            ("/auth/nope", Destination::Auth),
            ("/v2/auth/gettoken", Destination::Auth),
            ("/admin/users", Destination::Auth),
            ("/admin/users/7/unlock", Destination::Auth),
            ("/admin", Destination::NotFound),
            ("/cuenta", Destination::Auth),
            ("/cuenta/", Destination::Auth),
            ("/cuenta/app.js", Destination::Auth),
            ("/cuenta/nada", Destination::Auth),
            ("/cuentas", Destination::NotFound),
            ("/.well-known/jwks.json", Destination::Auth),
            ("/.well-known/openid-configuration", Destination::Auth),
            ("/.well-known", Destination::NotFound),
            ("/oauth2/token", Destination::Auth),
            ("/oauth2", Destination::NotFound),
            ("/solicitud", Destination::Solicitud),
            ("/solicitud/", Destination::Solicitud),
            ("/solicitud/7/estado", Destination::Solicitud),
            ("/health", Destination::Health),
            ("/auth", Destination::NotFound),
            ("/v2/auth", Destination::NotFound),
            ("/v2/other", Destination::NotFound),
            ("/solicitudes", Destination::NotFound),
            ("/ready", Destination::NotFound),
            ("/metrics", Destination::NotFound),
            ("/openapi.json", Destination::NotFound),
            ("/health/", Destination::NotFound),
            ("/", Destination::NotFound),
        ] {
            assert_eq!(destination(path), to, "{path}");
        }
    }

    #[test]
    fn the_table_holds_every_service_route_the_gateway_lets_through_and_no_ops_route() {
        let templates: Vec<&str> = table().iter().map(|r| r.template).collect();
        for t in [
            "/health",
            "/auth/login",
            "/auth/mfa/verify",
            "/v2/auth/gettoken",
            "/.well-known/jwks.json",
            "/.well-known/openid-configuration",
            "/oauth2/token",
            "/oauth2/revoke",
            "/oauth2/introspect",
            "/admin/clients/{client_id}",
            "/cuenta",
            "/cuenta/app.js",
            "/cuenta/app.css",
            "/solicitud/",
            "/solicitud/{id}/estado",
        ] {
            assert!(templates.contains(&t), "{t} missing: {templates:?}");
        }
        for t in ["/ready", "/metrics", "/openapi.json"] {
            assert!(!templates.contains(&t), "{t} exposed: {templates:?}");
        }
        assert_eq!(templates.iter().filter(|t| **t == "/health").count(), 1);
        let expected =
            1 + auth_service::routes::table().len() - 4 + solicitud_service::routes::table().len() - 4;
        assert_eq!(templates.len(), expected, "{templates:?}");
    }
}
