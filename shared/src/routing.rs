//! Each service's one route table: every path template it serves and the methods each accepts.
//!
//! The table decides, before any endpoint filter runs, whether a request is for a path the service
//! knows (else 404) and a method that path accepts (else 405 with an `Allow` header listing them,
//! RFC 9110 §15.5.6). Only requests that pass reach the endpoint filters, so a known path with the
//! right method keeps its own error (a bad body's 400/413/422) whatever order warp combines the
//! endpoints' rejections in. The same table gives the metrics `route` label.

use warp::http::Method;
use warp::path::FullPath;
use warp::{Filter, Rejection};

/// One path template (`{name}` matches one all-digit segment) and the methods it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub template: &'static str,
    /// Upper-case method names, in the order the `Allow` header lists them.
    pub methods: &'static [&'static str],
}

impl Route {
    /// Whether `path` is an instance of this template (a trailing `/` is ignored).
    pub fn matches(&self, path: &str) -> bool {
        let mut parts = self.template.trim_end_matches('/').split('/');
        let mut segments = path.trim_end_matches('/').split('/');
        loop {
            match (parts.next(), segments.next()) {
                (None, None) => return true,
                (Some(p), Some(s)) => {
                    let variable = p.starts_with('{') && p.ends_with('}');
                    let ok = if variable {
                        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
                    } else {
                        p == s
                    };
                    if !ok {
                        return false;
                    }
                }
                _ => return false,
            }
        }
    }

    /// Whether the template accepts `method`.
    pub fn accepts(&self, method: &Method) -> bool {
        self.methods.contains(&method.as_str())
    }

    /// The `Allow` header value: `GET, POST`.
    pub fn allow(&self) -> String {
        self.methods.join(", ")
    }
}

/// The route of `path` in `table`, if any.
pub fn find(table: &'static [Route], path: &str) -> Option<&'static Route> {
    table.iter().find(|r| r.matches(path))
}

/// The rejection for a known path and a method it does not accept; [`crate::rejection::recover`]
/// answers it 405 with `Allow`.
#[derive(Debug)]
pub struct NotAllowed(pub &'static Route);

impl warp::reject::Reject for NotAllowed {}

/// The route of the request's path in one table, found once by the server ([`crate::server`]) and
/// carried as a request extension so that [`known`] with the same table does not match the path
/// again. A filter checking another table (the all-in-one binary nests each service's table under
/// its own) matches for itself.
#[derive(Debug, Clone, Copy)]
pub struct Matched {
    pub table: &'static [Route],
    pub route: Option<&'static Route>,
}

impl Matched {
    /// The route of `path` in `table`.
    pub fn find(table: &'static [Route], path: &str) -> Self {
        Self {
            table,
            route: find(table, path),
        }
    }
}

/// Passes only requests whose path is in `table` with a method it accepts: an unknown path is
/// rejected as not found, a known path with another method with [`NotAllowed`]. The path is matched
/// here only when the server has not already ([`Matched`]).
pub fn known(table: &'static [Route]) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::method()
        .and(warp::path::full())
        .and(warp::ext::optional::<Matched>())
        .and_then(
            move |method: Method, path: FullPath, matched: Option<Matched>| async move {
                let route = match matched {
                    Some(m) if std::ptr::eq(m.table, table) => m.route,
                    _ => find(table, path.as_str()),
                };
                match route {
                    None => Err(warp::reject::not_found()),
                    Some(route) if route.accepts(&method) => Ok(()),
                    Some(route) => Err(warp::reject::custom(NotAllowed(route))),
                }
            },
        )
        .untuple_one()
}

#[cfg(test)]
mod tests {
    use super::*;

    static TABLE: &[Route] = &[
        Route {
            template: "/solicitud/",
            methods: &["GET", "POST"],
        },
        Route {
            template: "/solicitud/{id}",
            methods: &["GET"],
        },
        Route {
            template: "/solicitud/{id}/estado",
            methods: &["PATCH"],
        },
    ];

    fn template(path: &str) -> Option<&'static str> {
        find(TABLE, path).map(|r| r.template)
    }

    #[test]
    fn paths_match_their_templates_only() {
        assert_eq!(template("/solicitud/"), Some("/solicitud/"));
        assert_eq!(template("/solicitud"), Some("/solicitud/"));
        assert_eq!(template("/solicitud/42"), Some("/solicitud/{id}"));
        assert_eq!(template("/solicitud/42/estado"), Some("/solicitud/{id}/estado"));
        assert_eq!(template("/solicitud/abc"), None);
        assert_eq!(template("/solicitud/42/estado/x"), None);
        assert_eq!(template("/etc/passwd"), None);
    }

    static OTHER: &[Route] = &[Route {
        template: "/otra",
        methods: &["GET"],
    }];

    /// TABLE's `known()` filter, for a request the server matched as `matched`.
    async fn known_with(matched: Matched, method: &str, path: &str) -> Result<(), Rejection> {
        warp::test::request()
            .method(method)
            .path(path)
            .extension(matched)
            .filter(&known(TABLE))
            .await
    }

    #[tokio::test]
    async fn the_servers_match_is_used_only_for_its_own_table() {
        // The server matched this path in this table: known() takes its answer as it is.
        let matched = Matched::find(TABLE, "/solicitud/42");
        assert_eq!(matched.route.map(|r| r.template), Some("/solicitud/{id}"));
        let ok = known_with(matched, "GET", "/solicitud/42").await;
        assert!(ok.is_ok());
        // A match made in another table (a nested service's, as in the all-in-one binary) is not
        // taken for this one: the path is matched again, here as unknown to TABLE.
        let elsewhere = Matched::find(OTHER, "/otra");
        assert!(elsewhere.route.is_some());
        let refused = known_with(elsewhere, "GET", "/otra").await;
        assert!(refused.err().is_some_and(|r| r.is_not_found()));
        // And a known path with the wrong method is still 405 when the server matched it.
        let not_allowed = known_with(Matched::find(TABLE, "/solicitud/42"), "POST", "/solicitud/42").await;
        assert!(not_allowed
            .err()
            .and_then(|r| r.find::<NotAllowed>().map(|n| n.0.template))
            .is_some_and(|t| t == "/solicitud/{id}"));
    }

    #[test]
    fn allow_lists_the_methods_in_order() {
        assert_eq!(TABLE[0].allow(), "GET, POST");
        assert!(TABLE[2].accepts(&Method::PATCH));
        assert!(!TABLE[2].accepts(&Method::GET));
    }
}
