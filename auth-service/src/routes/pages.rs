//! The hosted login page's HTML: server-rendered forms that work without JavaScript, in Spanish like
//! the API, styled by `/cuenta/app.css`. Every value put in a page is escaped ([`escape`]); every page
//! carries a strict CSP ([`csp`]) and the headers of `/cuenta`.
//!
//! Passkeys are the one thing that needs a script (the browser's WebAuthn API): the login and
//! second-step pages carry a passkey form, hidden, and `/cuenta/passkey.js` (this service's own file,
//! nothing inline) shows it where the browser has passkeys, runs the ceremony and posts the
//! assertion in that form. Without the script everything else works as before.
//!
//! The field conventions are the contract's, which password managers and the tests rely on:
//! `autocomplete="username"`, `type="password" autocomplete="current-password"`, a hidden `csrf`,
//! and for the second step `autocomplete="one-time-code" inputmode="numeric"`.

use warp::http::header::{HeaderValue, CONTENT_TYPE};
use warp::http::StatusCode;
use warp::reply::Response;

/// `text` with `& < > " '` escaped, for an element's text or a quoted attribute.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The policy of a page: its style sheet and the passkey script of this service only (no inline
/// script, no DOM sinks outside Trusted Types), requests to this service, forms sent only to this
/// service and, where the page's form ends in a redirect to a client, to that client's origin
/// (browsers apply `form-action` to the redirects a form submission leads to).
pub(super) fn csp(form_target: Option<&str>) -> String {
    let extra = form_target
        .and_then(origin_of)
        .map(|o| format!(" {o}"))
        .unwrap_or_default();
    format!(
        "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; \
         form-action 'self'{extra}; base-uri 'none'; frame-ancestors 'none'; \
         require-trusted-types-for 'script'"
    )
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    let origin = parsed.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}

/// A page: its title, body, status, and the origin its form may end at.
pub(super) struct Page {
    pub status: StatusCode,
    pub title: String,
    pub body: String,
    pub form_target: Option<String>,
}

impl Page {
    pub(super) fn new(status: StatusCode, title: &str, body: String) -> Self {
        Self {
            status,
            title: title.to_string(),
            body,
            form_target: None,
        }
    }

    /// The page whose form ends in a redirect to `redirect_uri`.
    pub(super) fn ending_at(mut self, redirect_uri: &str) -> Self {
        self.form_target = Some(redirect_uri.to_string());
        self
    }

    pub(super) fn into_response(self) -> Response {
        let html = format!(
            "<!doctype html>\n<html lang=\"es\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>{title}</title>\n<link rel=\"stylesheet\" href=\"/cuenta/app.css\">\n</head>\n<body>\n\
             <header class=\"cabecera\"><h1>{title}</h1></header>\n<main>\n{body}\n</main>\n</body>\n</html>\n",
            title = escape(&self.title),
            body = self.body
        );
        let mut response = Response::new(html.into());
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
        if let Ok(policy) = HeaderValue::from_str(&csp(self.form_target.as_deref())) {
            headers.insert("content-security-policy", policy);
        }
        headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
        headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
        headers.insert(
            "cross-origin-opener-policy",
            HeaderValue::from_static("same-origin"),
        );
        response
    }
}

/// A notice above a form: an error (`aviso error`) or information.
pub(super) fn notice(text: Option<&str>) -> String {
    text.map(|t| format!("<p class=\"aviso error\" role=\"alert\">{}</p>\n", escape(t)))
        .unwrap_or_default()
}

fn hidden(name: &str, value: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"{}\" value=\"{}\">\n",
        escape(name),
        escape(value)
    )
}

/// The passkey form of a page (`step`: `login` or `second`), hidden until `/cuenta/passkey.js`
/// finds the browser can use passkeys; it posts the assertion as `passkey`.
fn passkey_form(step: &str, csrf: &str, req: &str, mfa_token: Option<&str>, label: &str) -> String {
    format!(
        "<form method=\"post\" action=\"/oauth2/login\" class=\"llave\" data-passkey=\"{step}\" hidden>\n{csrf}{req}{mfa}\
         <input type=\"hidden\" name=\"passkey\" value=\"\">\n\
         <p class=\"acciones\"><button type=\"submit\" class=\"secundario\">{label}</button></p>\n</form>\n\
         <script src=\"/cuenta/passkey.js\"></script>\n",
        step = escape(step),
        csrf = hidden("csrf", csrf),
        req = hidden("req", req),
        mfa = mfa_token.map(|t| hidden("mfa", t)).unwrap_or_default(),
        label = escape(label),
    )
}

/// The first step: username and password, without the passkey form.
#[cfg(test)]
fn login_form(client_name: &str, req: &str, csrf: &str, username: &str, error: Option<&str>) -> String {
    login_form_with(client_name, req, csrf, username, error, false)
}

/// The first step: username and password, and the passkey form when passkeys are on.
pub(super) fn login_form_with(
    client_name: &str,
    req: &str,
    csrf: &str,
    username: &str,
    error: Option<&str>,
    passkeys: bool,
) -> String {
    let passkey = if passkeys {
        passkey_form("login", csrf, req, None, "Entrar con llave de acceso")
    } else {
        String::new()
    };
    login_form_inner(client_name, req, csrf, username, error, &passkey)
}

fn login_form_inner(
    client_name: &str,
    req: &str,
    csrf: &str,
    username: &str,
    error: Option<&str>,
    passkey: &str,
) -> String {
    format!(
        "<section class=\"tarjeta\">\n<h2>Iniciar sesión</h2>\n<p class=\"sub\">para continuar en <strong>{client}</strong></p>\n{notice}\
         <form method=\"post\" action=\"/oauth2/login\">\n{csrf}{req}\
         <label for=\"username\">Usuario</label>\n\
         <input id=\"username\" name=\"username\" autocomplete=\"username\" autocapitalize=\"none\" spellcheck=\"false\" required value=\"{username}\"{focus_user}>\n\
         <label for=\"password\">Contraseña</label>\n\
         <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required{focus_password}>\n\
         <p class=\"acciones\"><button type=\"submit\">Iniciar sesión</button></p>\n</form>\n{passkey}</section>",
        client = escape(client_name),
        notice = notice(error),
        csrf = hidden("csrf", csrf),
        req = hidden("req", req),
        username = escape(username),
        focus_user = if username.is_empty() { " autofocus" } else { "" },
        focus_password = if username.is_empty() { "" } else { " autofocus" },
    )
}

/// The second step: the TOTP or recovery code, for the challenge `mfa_token`.
#[cfg(test)]
fn code_form(client_name: &str, req: &str, csrf: &str, mfa_token: &str, error: Option<&str>) -> String {
    second_step_form(client_name, req, csrf, mfa_token, error, &["totp"])
}

/// The second step for the factors the user holds (`methods`: `totp`, `passkey`): the code form, the
/// passkey form, or both.
pub(super) fn second_step_form(
    client_name: &str,
    req: &str,
    csrf: &str,
    mfa_token: &str,
    error: Option<&str>,
    methods: &[&str],
) -> String {
    let code = if methods.contains(&"totp") || !methods.contains(&"passkey") {
        format!(
            "<form method=\"post\" action=\"/oauth2/login\">\n{csrf}{req}{mfa}{factors}\
             <label for=\"code\">Código de tu aplicación de autenticación (o un código de recuperación)</label>\n\
             <input id=\"code\" name=\"code\" autocomplete=\"one-time-code\" inputmode=\"numeric\" autocapitalize=\"none\" spellcheck=\"false\" required autofocus>\n\
             <p class=\"acciones\"><button type=\"submit\">Verificar</button></p>\n</form>\n",
            csrf = hidden("csrf", csrf),
            req = hidden("req", req),
            mfa = hidden("mfa", mfa_token),
            factors = hidden("factors", &methods.join(" ")),
        )
    } else {
        String::new()
    };
    let passkey = if methods.contains(&"passkey") {
        passkey_form("second", csrf, req, Some(mfa_token), "Usar mi llave de acceso")
    } else {
        String::new()
    };
    format!(
        "<section class=\"tarjeta\">\n<h2>Verificación en dos pasos</h2>\n<p class=\"sub\">para continuar en <strong>{client}</strong></p>\n{notice}{code}{passkey}</section>",
        client = escape(client_name),
        notice = notice(error),
    )
}

/// What each scope lets an app do, in the user's words.
fn scope_text(scope: &str) -> &'static str {
    match scope {
        "openid" => "Saber quién eres (tu identificador)",
        "profile" => "Ver tu nombre de usuario y tu rol",
        "email" => "Ver tu correo electrónico",
        "offline_access" => "Seguir conectada cuando no estés usándola",
        "solicitud:read" => "Ver tus solicitudes de transporte",
        "solicitud:write" => "Crear y cancelar solicitudes de transporte en tu nombre",
        "solicitud:admin" => "Aprobar y rechazar solicitudes de transporte",
        _ => "Otro permiso",
    }
}

/// The consent screen of a third-party client.
pub(super) fn consent_form(client_name: &str, username: &str, scope: &str, req: &str, csrf: &str) -> String {
    let items: String = scope
        .split(' ')
        .map(|s| format!("<li>{} <code>{}</code></li>\n", escape(scope_text(s)), escape(s)))
        .collect();
    format!(
        "<section class=\"tarjeta\">\n<h2>¿Permitir el acceso?</h2>\n\
         <p><strong>{client}</strong> pide acceso a tu cuenta <strong>{user}</strong> para:</p>\n<ul>\n{items}</ul>\n\
         <form method=\"post\" action=\"/oauth2/consent\">\n{csrf}{req}\
         <p class=\"acciones\"><button type=\"submit\" name=\"decision\" value=\"allow\">Permitir</button> \
         <button type=\"submit\" name=\"decision\" value=\"deny\" class=\"secundario\">Denegar</button></p>\n</form>\n</section>",
        client = escape(client_name),
        user = escape(username),
        csrf = hidden("csrf", csrf),
        req = hidden("req", req),
    )
}

/// The question before logging out without an `id_token_hint` (RP-Initiated Logout §2).
pub(super) fn logout_form(csrf: &str, passed: &[(&str, &str)]) -> String {
    let fields: String = passed.iter().map(|(n, v)| hidden(n, v)).collect();
    format!(
        "<section class=\"tarjeta\">\n<h2>¿Cerrar la sesión?</h2>\n<p>Se cerrará tu sesión en este navegador y en las aplicaciones que entraron con ella.</p>\n\
         <form method=\"post\" action=\"/oauth2/logout\">\n{csrf}{fields}\
         <p class=\"acciones\"><button type=\"submit\" name=\"confirm\" value=\"yes\">Cerrar sesión</button></p>\n</form>\n</section>",
        csrf = hidden("csrf", csrf),
    )
}

/// A message and nothing to do (an error, a logout done).
pub(super) fn message(text: &str) -> String {
    format!("<section class=\"tarjeta\">\n<p>{}</p>\n</section>", escape(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_everywhere() {
        let evil = "\"><script>alert(1)</script>";
        for html in [
            login_form(evil, evil, evil, evil, Some(evil)),
            code_form(evil, evil, evil, evil, Some(evil)),
            second_step_form(evil, evil, evil, evil, Some(evil), &["totp", "passkey"]),
            login_form_with(evil, evil, evil, evil, Some(evil), true),
            consent_form(evil, evil, "openid", evil, evil),
            logout_form(evil, &[("state", evil)]),
            message(evil),
        ] {
            // The only script element is the passkey script of this service, by its path.
            let scripts = html.matches("<script").count();
            assert_eq!(
                scripts,
                html.matches("<script src=\"/cuenta/passkey.js\"></script>")
                    .count(),
                "{html}"
            );
            assert!(!html.contains("<script>"), "{html}");
            assert!(html.contains("&lt;script&gt;"), "{html}");
        }
    }

    #[test]
    fn the_forms_follow_the_contracts_field_conventions() {
        let login = login_form("App", "r", "c", "", None);
        assert!(login.contains("autocomplete=\"username\""));
        assert!(login.contains("type=\"password\" autocomplete=\"current-password\""));
        assert!(login.contains("type=\"hidden\" name=\"csrf\" value=\"c\""));
        let code = code_form("App", "r", "c", "m", None);
        assert!(code.contains("autocomplete=\"one-time-code\" inputmode=\"numeric\""));
        assert!(code.contains("name=\"csrf\""));
        assert!(
            !code.contains("passkey"),
            "no passkey form without passkeys: {code}"
        );
        let both = second_step_form("App", "r", "c", "m", None, &["totp", "passkey"]);
        assert!(both.contains("name=\"code\"") && both.contains("data-passkey=\"second\""));
        let only_passkey = second_step_form("App", "r", "c", "m", None, &["passkey"]);
        assert!(!only_passkey.contains("name=\"code\"") && only_passkey.contains("name=\"mfa\" value=\"m\""));
        let login = login_form_with("App", "r", "c", "", None, true);
        assert!(
            login.contains("data-passkey=\"login\" hidden") && login.contains("src=\"/cuenta/passkey.js\"")
        );
    }

    #[test]
    fn the_policy_allows_no_script_and_forms_to_here_and_the_clients_origin() {
        let policy = csp(Some("https://app.example:8443/cb?x=1"));
        assert!(
            policy.contains("form-action 'self' https://app.example:8443;"),
            "{policy}"
        );
        assert!(policy.contains("script-src 'self';"), "{policy}");
        assert!(!policy.contains("unsafe"), "{policy}");
        assert!(policy.starts_with("default-src 'none'"));
        assert!(csp(None).contains("form-action 'self';"));
        assert!(csp(Some("not a url")).contains("form-action 'self';"));
    }
}
