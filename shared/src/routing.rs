//! Each service's endpoints, declared once, and the route table and dispatch derived from them.
//!
//! An endpoint is one function: its `#[utoipa::path]` annotation says its method, path and
//! documentation, and its body builds its filter, handed back as an [`Endpoint`] made from that very
//! annotation ([`Endpoint::of`]). A service lists its endpoint functions once, in [`endpoints!`],
//! which derives from that one list the OpenAPI document, the route table ([`table_of`]) and the
//! [`Router`].
//!
//! The table decides, before any endpoint filter runs, whether a request is for a path the service
//! knows (else 404) and a method that path accepts (else 405 with an `Allow` header listing them,
//! RFC 9110 §15.5.6). Every `GET` route also answers `HEAD` (RFC 9110 §9.3.2): the server runs the
//! `GET` endpoint and sends its status and headers without the body. Only requests that pass reach
//! the endpoint filters, so a known path with the right method keeps its own error (a bad body's
//! 400/413/422). The same table gives the metrics `route` label.
//!
//! Dispatch: the server matches the request's path against the table once, then runs only the
//! filters of that route ([`Router::filter_for`]): one boxed filter per request, not a walk down a
//! chain of every endpoint. Joining every endpoint's filter type into one `or` chain is also what
//! made the auth service's crate take over ten minutes to type-check; each route's filter is boxed on
//! its own here, so the types stay small.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use warp::filters::BoxedFilter;
use warp::http::Method;
use warp::path::FullPath;
use warp::reply::Response;
use warp::{Filter, Rejection};

/// One path template and the methods it accepts: `{id}` matches one all-digit segment, any other
/// `{name}` (`{client_id}`) one non-empty segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub template: &'static str,
    /// Upper-case method names, in the order the `Allow` header lists them.
    pub methods: &'static [&'static str],
}

impl Route {
    /// Whether `path` is an instance of this template (a trailing `/` is ignored).
    pub fn matches(&self, path: &str) -> bool {
        let template = self.template.trim_end_matches('/');
        let path = path.trim_end_matches('/');
        // A path that matches starts with the template's text up to its first variable; one
        // comparison rules out nearly every other template before anything is split (the table is
        // walked in order on every request: splitting each template cost 8 % of a refresh).
        let literal = template.find('{').map_or(template, |i| &template[..i]);
        path.starts_with(literal) && segments_match(template, path)
    }

    /// Whether the template accepts `method` (`HEAD` wherever `GET` is).
    pub fn accepts(&self, method: &Method) -> bool {
        self.methods.contains(&method.as_str()) || (*method == Method::HEAD && self.methods.contains(&"GET"))
    }

    /// The `Allow` header value: `GET, HEAD, POST` (`HEAD` right after `GET`).
    pub fn allow(&self) -> String {
        crate::rejection::allow(self.methods)
    }
}

/// One endpoint: the method and path template its OpenAPI annotation declares, and its filter.
pub struct Endpoint {
    template: &'static str,
    method: Method,
    filter: BoxedFilter<(Response,)>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Endpoint({} {})", self.method, self.template)
    }
}

impl Endpoint {
    /// The endpoint `P` documents (the struct `#[utoipa::path]` generates beside an endpoint
    /// function, `__path_<name>`), served by `filter`. The filter still matches its own path and
    /// method; the router only decides which filters a request reaches.
    pub fn of<P: utoipa::Path>(
        filter: impl Filter<Extract = (Response,), Error = Rejection> + Clone + Send + Sync + 'static,
    ) -> Self {
        let method = P::methods()
            .first()
            .map_or(Method::GET, |m| http_method(m).clone());
        Self {
            template: intern(&P::path()),
            method,
            filter: filter.boxed(),
        }
    }

    pub fn template(&self) -> &'static str {
        self.template
    }

    pub fn method(&self) -> &Method {
        &self.method
    }
}

/// The `http` method of an OpenAPI one.
fn http_method(method: &utoipa::openapi::path::HttpMethod) -> &'static Method {
    use utoipa::openapi::path::HttpMethod as M;
    match method {
        M::Get => &Method::GET,
        M::Post => &Method::POST,
        M::Put => &Method::PUT,
        M::Delete => &Method::DELETE,
        M::Options => &Method::OPTIONS,
        M::Head => &Method::HEAD,
        M::Patch => &Method::PATCH,
        M::Trace => &Method::TRACE,
    }
}

/// A `'static` copy of `s`, made once per distinct string: route tables and templates are built from
/// OpenAPI documents at start (and once per app in tests), from a few dozen strings in all.
fn intern(s: &str) -> &'static str {
    static STRINGS: OnceLock<Mutex<HashMap<String, &'static str>>> = OnceLock::new();
    let mut strings = STRINGS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(interned) = strings.get(s) {
        return interned;
    }
    let interned: &'static str = Box::leak(s.to_owned().into_boxed_str());
    strings.insert(s.to_owned(), interned);
    interned
}

/// The route table of an OpenAPI document: each path in the document's order, with the methods it
/// documents (in the order GET, POST, PUT, PATCH, DELETE). Leaked once: call it from a `OnceLock`
/// (as [`endpoints!`] does).
pub fn table_of(doc: &utoipa::openapi::OpenApi) -> &'static [Route] {
    let routes: Vec<Route> = doc
        .paths
        .paths
        .iter()
        .map(|(path, item)| {
            let methods: Vec<&'static str> = [
                ("GET", item.get.is_some()),
                ("POST", item.post.is_some()),
                ("PUT", item.put.is_some()),
                ("PATCH", item.patch.is_some()),
                ("DELETE", item.delete.is_some()),
            ]
            .into_iter()
            .filter_map(|(name, documented)| documented.then_some(name))
            .collect();
            Route {
                template: intern(path),
                methods: Box::leak(methods.into_boxed_slice()),
            }
        })
        .collect();
    Box::leak(routes.into_boxed_slice())
}

/// A service's endpoints by route: each route's filters (its endpoints, joined), behind the route
/// table's 404/405, the one `recover` and the common headers ([`serve_table`]).
#[derive(Clone)]
pub struct Router {
    table: &'static [Route],
    /// One per route of `table`, in its order.
    by_route: Vec<BoxedFilter<(Response,)>>,
    /// What answers a path the table does not know (404) or a method its route does not accept (405).
    fallback: BoxedFilter<(Response,)>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

impl Router {
    /// The router of `table` over `endpoints`. An endpoint whose route the table lacks is never
    /// reached, and a route with no endpoint answers 404: [`Router::unserved`] lists both, and each
    /// service has a test that it is empty.
    pub fn new(table: &'static [Route], endpoints: Vec<Endpoint>) -> Self {
        let mut grouped: Vec<Option<BoxedFilter<(Response,)>>> = vec![None; table.len()];
        let mut strays = Vec::new();
        for endpoint in endpoints {
            let found = table.iter().position(|r| {
                r.template == endpoint.template && r.methods.contains(&endpoint.method.as_str())
            });
            match found {
                Some(i) => {
                    grouped[i] = Some(match grouped[i].take() {
                        None => endpoint.filter,
                        Some(before) => before.or(endpoint.filter).unify().boxed(),
                    });
                }
                None => strays.push(format!("{} {}", endpoint.method, endpoint.template)),
            }
        }
        for stray in &strays {
            tracing::error!(endpoint = %stray, "an endpoint is not in its route table");
        }
        let by_route = grouped
            .into_iter()
            .map(|filter| {
                let filter = filter.unwrap_or_else(|| {
                    warp::any()
                        .and_then(|| async { Err::<Response, _>(warp::reject::not_found()) })
                        .boxed()
                });
                serve_table(table, filter)
            })
            .collect();
        Self {
            table,
            by_route,
            fallback: serve_table(
                table,
                warp::any().and_then(|| async { Err::<Response, _>(warp::reject::not_found()) }),
            ),
        }
    }

    /// A router made of routes served elsewhere (the all-in-one binary's, from both services'):
    /// `by_route[i]` answers `table[i]`, and `fallback` everything else. Each filter must answer
    /// every request it is given.
    pub fn from_parts(
        table: &'static [Route],
        by_route: Vec<BoxedFilter<(Response,)>>,
        fallback: BoxedFilter<(Response,)>,
    ) -> Self {
        Self {
            table,
            by_route,
            fallback,
        }
    }

    pub fn table(&self) -> &'static [Route] {
        self.table
    }

    /// The filter that answers requests for `route` (one of this router's table), or the fallback
    /// for no route (404) and a route of another table.
    pub fn filter_for(&self, route: Option<&'static Route>) -> &BoxedFilter<(Response,)> {
        route
            .and_then(|route| self.table.iter().position(|r| std::ptr::eq(r, route)))
            .and_then(|i| self.by_route.get(i))
            .unwrap_or(&self.fallback)
    }

    /// The filter answering the route whose template is `template`, if this table has it.
    pub fn filter_for_template(&self, template: &str) -> Option<&BoxedFilter<(Response,)>> {
        self.table
            .iter()
            .position(|r| r.template == template)
            .and_then(|i| self.by_route.get(i))
    }

    /// The filter for what no route takes (404, or 405 with `Allow`).
    pub fn fallback(&self) -> &BoxedFilter<(Response,)> {
        &self.fallback
    }

    /// Every route as one filter, for `warp::test` and for nesting one service in another: each
    /// route's filter behind a check of its template, then the fallback. The server does not use it
    /// ([`Router::filter_for`] picks the one filter a request needs).
    pub fn as_filter(&self) -> BoxedFilter<(Response,)> {
        let guarded: Vec<BoxedFilter<(Response,)>> = self
            .table
            .iter()
            .zip(&self.by_route)
            .map(|(route, filter)| {
                let route: &'static Route = route;
                warp::path::full()
                    .and_then(move |path: FullPath| async move {
                        if route.matches(path.as_str()) {
                            Ok(())
                        } else {
                            Err(warp::reject::not_found())
                        }
                    })
                    .untuple_one()
                    .and(filter.clone())
                    .boxed()
            })
            .collect();
        balanced_or(guarded)
            .map(|routes| routes.or(self.fallback.clone()).unify().boxed())
            .unwrap_or_else(|| self.fallback.clone())
    }

    /// What does not line up between the table and the endpoints: routes none of the endpoints
    /// serves (listed by template). Empty for a service whose endpoints and table come from one
    /// [`endpoints!`] list.
    pub fn unserved(table: &'static [Route], endpoints: &[Endpoint]) -> Vec<String> {
        let mut problems = Vec::new();
        for route in table {
            for method in route.methods {
                if !endpoints
                    .iter()
                    .any(|e| e.template == route.template && e.method.as_str() == *method)
                {
                    problems.push(format!("no endpoint for {method} {}", route.template));
                }
            }
        }
        for e in endpoints {
            if !table
                .iter()
                .any(|r| r.template == e.template && r.methods.contains(&e.method.as_str()))
            {
                problems.push(format!("{} {} is not in the table", e.method, e.template));
            }
        }
        problems
    }
}

/// The filters joined with `or` as a balanced tree of boxed pairs: the types stay small, and a
/// request passes at most a logarithmic number of joins on its way to its filter.
fn balanced_or(mut filters: Vec<BoxedFilter<(Response,)>>) -> Option<BoxedFilter<(Response,)>> {
    while filters.len() > 1 {
        let mut paired = Vec::with_capacity(filters.len().div_ceil(2));
        let mut iter = filters.into_iter();
        while let Some(first) = iter.next() {
            paired.push(match iter.next() {
                Some(second) => first.or(second).unify().boxed(),
                None => first,
            });
        }
        filters = paired;
    }
    filters.pop()
}

/// Declares a service's endpoints once: every endpoint function (annotated with `#[utoipa::path]`,
/// returning an [`Endpoint`]) is listed once, with the arguments it is built from, and from that
/// list come the OpenAPI document (`$doc`, derived with the attributes given), the route table
/// (`table()`) and the endpoints (`$build`).
///
/// ```ignore
/// shared::endpoints! {
///     doc ApiDoc(info(title = "svc"), modifiers(&BearerAuth));
///     fn endpoints(app: &App);
///     shared::ops::health[],
///     login::login[app.clone()],
/// }
/// ```
#[macro_export]
macro_rules! endpoints {
    (
        doc $doc:ident ( $($openapi:tt)* );
        fn $build:ident ( $($param:ident : $ty:ty),* $(,)? );
        $( $endpoint:path [ $($arg:expr),* $(,)? ] ),+ $(,)?
    ) => {
        /// The OpenAPI document, from the endpoints' annotations and the types they name.
        #[derive(utoipa::OpenApi)]
        #[openapi(paths($($endpoint),+), $($openapi)*)]
        pub struct $doc;

        /// The route table: every path the document lists, with its methods ([`shared::routing`]).
        pub fn table() -> &'static [$crate::routing::Route] {
            static TABLE: std::sync::OnceLock<&'static [$crate::routing::Route]> =
                std::sync::OnceLock::new();
            TABLE.get_or_init(|| $crate::routing::table_of(&<$doc as utoipa::OpenApi>::openapi()))
        }

        /// Every endpoint, in the document's order.
        pub fn $build($($param: $ty),*) -> Vec<$crate::routing::Endpoint> {
            vec![$($endpoint($($arg),*)),+]
        }
    };
}

/// Whether `path` is an instance of `template`, segment by segment (both without a trailing `/`).
fn segments_match(template: &str, path: &str) -> bool {
    let mut parts = template.split('/');
    let mut segments = path.split('/');
    loop {
        match (parts.next(), segments.next()) {
            (None, None) => return true,
            (Some(p), Some(s)) => {
                let variable = p.starts_with('{') && p.ends_with('}');
                let ok = if variable && p == "{id}" {
                    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
                } else if variable {
                    !s.is_empty()
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

/// The route of `path` in `table`, if any.
pub fn find(table: &'static [Route], path: &str) -> Option<&'static Route> {
    table.iter().find(|r| r.matches(path))
}

pub use crate::rejection::NotAllowed;

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
                    Some(route) => Err(warp::reject::custom(NotAllowed(route.methods))),
                }
            },
        )
        .untuple_one()
}

/// A service's endpoints behind [`known`] (404 and 405 decided by its route table),
/// every rejection turned into the envelope by
/// [`crate::rejection::recover`], with the common security headers.
pub fn serve_table(
    table: &'static [Route],
    endpoints: impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone + Send + Sync + 'static,
) -> warp::filters::BoxedFilter<(warp::reply::Response,)> {
    known(table)
        .and(endpoints)
        .recover(crate::rejection::recover)
        .unify()
        .map(|reply| {
            let mut response = warp::Reply::into_response(reply);
            crate::http::add_security_headers(&mut response);
            response
        })
        .boxed()
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
        Route {
            template: "/admin/clients/{client_id}",
            methods: &["GET", "PATCH"],
        },
    ];

    fn template(path: &str) -> Option<&'static str> {
        find(TABLE, path).map(|r| r.template)
    }

    #[test]
    fn the_prefix_check_changes_no_answer() {
        let templates = [
            "/solicitud/",
            "/solicitud/{id}",
            "/solicitud/{id}/estado",
            "/admin/clients/{client_id}",
            "/admin/clients/{client_id}/secret",
            "/auth/passkeys/{passkey_id}",
            "/auth/refresh",
            "/oauth2/token",
            "/.well-known/openid-configuration",
            "/",
            "/{x}",
        ];
        let pieces = [
            "",
            "solicitud",
            "42",
            "abc",
            "estado",
            "admin",
            "clients",
            "billing-app",
            "secret",
            "auth",
            "passkeys",
            "refresh",
            "oauth2",
            "token",
            ".well-known",
            "openid-configuration",
            "{id}",
            "x",
        ];
        let mut paths = vec![String::new(), "/".into(), "//".into()];
        for a in pieces {
            paths.push(format!("/{a}"));
            paths.push(format!("/{a}/"));
            for b in pieces {
                paths.push(format!("/{a}/{b}"));
                paths.push(format!("/{a}/{b}/"));
                paths.push(format!("/{a}//{b}"));
                for c in ["", "estado", "secret", "42", "x"] {
                    paths.push(format!("/{a}/{b}/{c}"));
                    paths.push(format!("/{a}/{b}/{c}/"));
                }
            }
        }
        let mut matched = 0;
        for template in templates {
            let route = Route {
                template,
                methods: &["GET"],
            };
            for path in &paths {
                // The segment-by-segment check alone, as `matches` was before its prefix check.
                let expected = segments_match(template.trim_end_matches('/'), path.trim_end_matches('/'));
                assert_eq!(route.matches(path), expected, "{template} against {path}");
                matched += usize::from(expected);
            }
        }
        assert!(matched > 50, "the paths exercise matches too: {matched}");
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
        assert_eq!(
            template("/admin/clients/billing-app"),
            Some("/admin/clients/{client_id}")
        );
        assert_eq!(
            template("/admin/clients/"),
            None,
            "an empty segment is no client_id"
        );
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
            .and_then(|r| r.find::<NotAllowed>().map(|n| n.0))
            .is_some_and(|methods| methods == TABLE[1].methods));
    }

    #[test]
    fn allow_lists_the_methods_in_order() {
        assert_eq!(TABLE[0].allow(), "GET, HEAD, POST");
        assert!(TABLE[1].accepts(&Method::HEAD), "HEAD wherever GET is");
        assert!(!TABLE[2].accepts(&Method::HEAD));
        assert!(TABLE[2].accepts(&Method::PATCH));
        assert!(!TABLE[2].accepts(&Method::GET));
    }
}
