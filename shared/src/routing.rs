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

/// Passes only requests whose path is in `table` with a method it accepts: an unknown path is
/// rejected as not found, a known path with another method with [`NotAllowed`].
pub fn known(table: &'static [Route]) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::method()
        .and(warp::path::full())
        .and_then(move |method: Method, path: FullPath| async move {
            match find(table, path.as_str()) {
                None => Err(warp::reject::not_found()),
                Some(route) if route.accepts(&method) => Ok(()),
                Some(route) => Err(warp::reject::custom(NotAllowed(route))),
            }
        })
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

    #[test]
    fn allow_lists_the_methods_in_order() {
        assert_eq!(TABLE[0].allow(), "GET, POST");
        assert!(TABLE[2].accepts(&Method::PATCH));
        assert!(!TABLE[2].accepts(&Method::GET));
    }
}
