//! docs/integrating.md's "Verifying tokens in other languages" recipes, taken from the page as written, run
//! with PyJWT and jose against tokens of a running auth-service: an access token passes; a refresh
//! token, an expired access token, a token whose `typ` is not `access`, and an `alg: none` token are
//! refused, each for its own reason.
//!
//! PyJWT and jose are installed once into the target directory (`recipes-venv`, `recipes-node`, by
//! `test_support::python_venv` and `node_modules`), as `deploy-tests/schemathesis/run.sh` does for
//! schemathesis. Without `python3` or `npm` (or without the
//! registry) the test prints a SKIPPED line and passes, except on CI, where it fails saying why.

use std::path::{Path, PathBuf};
use std::process::Command;

use jsonwebtoken::Algorithm;
use serde_json::json;

use test_support::skip;

use crate::helpers::{access_claims, b64, forge, hs256_header, Clock, StoreKind, TestApp, SECRET};

const PYJWT: &str = "2.10.1";
const JOSE: &str = "6.2.18";

/// The fenced `lang` block of docs/integrating.md's "Verifying tokens in other languages" section.
fn recipe(lang: &str) -> String {
    recipe_in("Verifying tokens in other languages", lang)
}

/// The fenced `lang` block of the docs/integrating.md section titled `title`.
fn recipe_in(title: &str, lang: &str) -> String {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/integrating.md"))
            .unwrap();
    let start = readme
        .find(&format!("\n## {title}\n"))
        .unwrap_or_else(|| panic!("docs/integrating.md has a section \"{title}\""));
    let section = &readme[start + 1..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |end| end + 3)];
    let fence = format!("\n```{lang}\n");
    let open = section
        .find(&fence)
        .unwrap_or_else(|| panic!("no ```{lang} block in the section"));
    let code = &section[open + fence.len()..];
    code[..code.find("\n```").expect("an unclosed block")].to_string() + "\n"
}

/// The target directory (`.../target`), where the tools are installed once.
fn target_dir() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_auth-service"));
    bin.parent().and_then(Path::parent).unwrap().to_path_buf()
}

/// The venv's python with PyJWT installed.
fn python_with_pyjwt() -> Result<PathBuf, String> {
    test_support::python_venv(
        &target_dir().join("recipes-venv"),
        // [crypto]: cryptography, for the asymmetric algorithms of the JWKS recipe.
        &[&format!("pyjwt[crypto]=={PYJWT}")],
        "import jwt, cryptography; print(jwt.__version__)",
        PYJWT,
    )
}

/// A directory whose `node_modules` holds jose.
fn node_modules_with_jose() -> Result<PathBuf, String> {
    test_support::node_modules(&target_dir().join("recipes-node"), "jose", JOSE)
}

/// The tokens each recipe is given, by name, from a running auth-service (and two forged with the
/// same secret).
async fn tokens() -> Vec<(&'static str, String)> {
    let app = TestApp::spawn_with(StoreKind::Memory, &[]).await;
    let now_ms = app.clock.now_ms();
    // Issued two hours ago: expired an hour ago by any real clock.
    app.clock.set_ms(now_ms - 2 * 3600 * 1000);
    let (expired, _) = app.login_tokens().await;
    app.clock.set_ms(now_ms);
    let (access, refresh) = app.login_tokens().await;
    let now = now_ms / 1000;
    let mut mfa_typed = access_claims(now);
    mfa_typed["typ"] = json!("mfa");
    let not_access = forge(&hs256_header(SECRET), &mfa_typed, SECRET, Algorithm::HS256);
    let alg_none = format!(
        "{}.{}.",
        b64(&json!({ "alg": "none", "typ": "JWT" })),
        b64(&access_claims(now))
    );
    vec![
        ("access", access),
        ("refresh", refresh),
        ("expired", expired),
        ("not_access", not_access),
        ("alg_none", alg_none),
    ]
}

/// A fresh directory under `parent` for one run's files.
fn scratch(parent: &Path, label: &str) -> PathBuf {
    let dir = parent.join(format!(
        "{label}-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// What the driver printed, one `name verdict detail...` line per token, by name.
fn verdicts(output: &str) -> std::collections::BTreeMap<String, String> {
    output
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(name, rest)| (name.to_string(), rest.to_string()))
        .collect()
}

fn assert_verdicts(lang: &str, output: &str, expired_reason: &str) {
    let v = verdicts(output);
    assert_eq!(v.len(), 5, "{lang}: {output}");
    assert_eq!(v["access"], "ok 1 access", "{lang}: {output}");
    for name in ["refresh", "expired", "not_access", "alg_none"] {
        assert!(v[name].starts_with("refused "), "{lang}: {name} passed: {output}");
    }
    assert!(v["expired"].contains(expired_reason), "{lang}: {output}");
    assert!(
        v["not_access"].contains("not an access token"),
        "{lang}: {output}"
    );
}

const PYTHON_DRIVER: &str = r#"
import json, os, sys
import jwt
from recipe import verify_access_token

for name, token in json.load(open(sys.argv[1])):
    try:
        claims = verify_access_token(token, os.environ["JWT_SECRET"])
        print(name, "ok", claims["sub"], claims["typ"])
    except jwt.InvalidTokenError as e:
        print(name, "refused", type(e).__name__, str(e).replace("\n", " "))
"#;

const NODE_DRIVER: &str = r#"
import { readFileSync } from "node:fs";
import { verifyAccessToken } from "./recipe.mjs";

for (const [name, token] of JSON.parse(readFileSync(process.argv[2], "utf8"))) {
  try {
    const claims = await verifyAccessToken(token, process.env.JWT_SECRET);
    console.log(name, "ok", claims.sub, claims.typ);
  } catch (e) {
    console.log(name, "refused", e.code ?? e.name, String(e.message).replace(/\n/g, " "));
  }
}
"#;

#[tokio::test]
async fn the_readmes_python_recipe_accepts_only_a_live_access_token() {
    let test = "the README's Python (PyJWT) recipe";
    let code = recipe("python");
    let python = match tokio::task::spawn_blocking(python_with_pyjwt).await.unwrap() {
        Ok(python) => python,
        Err(why) => return skip(test, &format!("PyJWT could not be installed: {why}")),
    };
    let dir = scratch(&std::env::temp_dir(), "recipe-python");
    std::fs::write(dir.join("recipe.py"), code).unwrap();
    std::fs::write(dir.join("driver.py"), PYTHON_DRIVER).unwrap();
    std::fs::write(
        dir.join("tokens.json"),
        serde_json::to_vec(&tokens().await).unwrap(),
    )
    .unwrap();
    let output = test_support::run_script(
        Command::new(python)
            .arg(dir.join("driver.py"))
            .arg(dir.join("tokens.json"))
            .env_clear()
            .env("JWT_SECRET", SECRET),
    );
    let _ = std::fs::remove_dir_all(&dir);
    let output = output.unwrap();
    assert_verdicts("python", &output, "ExpiredSignatureError");
    let v = verdicts(&output);
    assert!(v["alg_none"].contains("InvalidAlgorithmError"), "{output}");
    assert!(v["refresh"].contains("InvalidSignatureError"), "{output}");
}

#[tokio::test]
async fn the_readmes_node_recipe_accepts_only_a_live_access_token() {
    let test = "the README's Node (jose) recipe";
    let code = recipe("js");
    let modules = match tokio::task::spawn_blocking(node_modules_with_jose).await.unwrap() {
        Ok(dir) => dir,
        Err(why) => return skip(test, &format!("jose could not be installed: {why}")),
    };
    // Inside the directory that holds node_modules, so `import "jose"` resolves.
    let dir = scratch(&modules, "run");
    std::fs::write(dir.join("recipe.mjs"), code).unwrap();
    std::fs::write(dir.join("driver.mjs"), NODE_DRIVER).unwrap();
    std::fs::write(
        dir.join("tokens.json"),
        serde_json::to_vec(&tokens().await).unwrap(),
    )
    .unwrap();
    let output = test_support::run_script(
        Command::new("node")
            .arg(dir.join("driver.mjs"))
            .arg(dir.join("tokens.json"))
            .env_clear()
            .env("JWT_SECRET", SECRET),
    );
    let _ = std::fs::remove_dir_all(&dir);
    let output = output.unwrap();
    assert_verdicts("node", &output, "ERR_JWT_EXPIRED");
    let v = verdicts(&output);
    assert!(
        v["refresh"].contains("ERR_JWS_SIGNATURE_VERIFICATION_FAILED"),
        "{output}"
    );
}

#[test]
fn the_recipes_pin_the_algorithm_and_check_iss_aud_typ_with_a_small_leeway() {
    let python = recipe("python");
    for needle in [
        "algorithms=[\"HS256\"]",
        "issuer=",
        "audience=",
        "leeway=5",
        "\"access\"",
    ] {
        assert!(python.contains(needle), "python recipe lacks {needle}");
    }
    let js = recipe("js");
    for needle in [
        "algorithms: [\"HS256\"]",
        "issuer:",
        "audience:",
        "clockTolerance: 5",
        "\"access\"",
    ] {
        assert!(js.contains(needle), "js recipe lacks {needle}");
    }
}

/// The tokens the JWKS recipes are given, from an auth-service signing with EdDSA, and its set's URL.
async fn jwks_tokens() -> (TestApp, Vec<(&'static str, String)>) {
    let app = TestApp::spawn_with(StoreKind::Memory, &[("JWT_ALGORITHM", "EdDSA")]).await;
    let now_ms = app.clock.now_ms();
    app.clock.set_ms(now_ms - 2 * 3600 * 1000);
    let (expired, _) = app.login_tokens().await;
    app.clock.set_ms(now_ms);
    let (access, refresh) = app.login_tokens().await;
    let now = now_ms / 1000;
    // Algorithm confusion: HS256 with the secret the deployment still holds (for refresh tokens).
    let hs256 = forge(
        &hs256_header(SECRET),
        &access_claims(now),
        SECRET,
        Algorithm::HS256,
    );
    let alg_none = format!(
        "{}.{}.",
        b64(&json!({ "alg": "none", "typ": "JWT", "kid": claims_kid(&access) })),
        b64(&access_claims(now))
    );
    let tokens = vec![
        ("access", access),
        ("refresh", refresh),
        ("expired", expired),
        ("hs256", hs256),
        ("alg_none", alg_none),
    ];
    (app, tokens)
}

/// The `kid` of a token's header.
fn claims_kid(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

fn assert_jwks_verdicts(lang: &str, output: &str) {
    let v = verdicts(output);
    assert_eq!(v.len(), 5, "{lang}: {output}");
    assert_eq!(v["access"], "ok 1 access", "{lang}: {output}");
    for name in ["refresh", "expired", "hs256", "alg_none"] {
        assert!(v[name].starts_with("refused "), "{lang}: {name} passed: {output}");
    }
}

const PYTHON_JWKS_DRIVER: &str = r#"
import json, sys
from recipe import verify_access_token

for name, token in json.load(open(sys.argv[1])):
    try:
        claims = verify_access_token(token)
        print(name, "ok", claims["sub"], claims["typ"])
    except Exception as e:
        print(name, "refused", type(e).__name__, str(e).replace("\n", " "))
"#;

const NODE_JWKS_DRIVER: &str = r#"
import { readFileSync } from "node:fs";
import { verifyAccessToken } from "./recipe.mjs";

for (const [name, token] of JSON.parse(readFileSync(process.argv[2], "utf8"))) {
  try {
    const claims = await verifyAccessToken(token);
    console.log(name, "ok", claims.sub, claims.typ);
  } catch (e) {
    console.log(name, "refused", e.code ?? e.name, String(e.message).replace(/\n/g, " "));
  }
}
"#;

const JWKS_SECTION: &str = "Verifying tokens with the published keys (JWKS)";

#[tokio::test]
async fn the_readmes_pyjwkclient_recipe_verifies_with_the_published_keys_only() {
    let test = "the README's PyJWKClient recipe";
    let code = recipe_in(JWKS_SECTION, "python");
    let python = match tokio::task::spawn_blocking(python_with_pyjwt).await.unwrap() {
        Ok(python) => python,
        Err(why) => return skip(test, &format!("PyJWT could not be installed: {why}")),
    };
    let (app, tokens) = jwks_tokens().await;
    let dir = scratch(&std::env::temp_dir(), "recipe-jwks-python");
    std::fs::write(dir.join("recipe.py"), code).unwrap();
    std::fs::write(dir.join("driver.py"), PYTHON_JWKS_DRIVER).unwrap();
    std::fs::write(dir.join("tokens.json"), serde_json::to_vec(&tokens).unwrap()).unwrap();
    let url = app.url("/.well-known/jwks.json");
    let output = tokio::task::spawn_blocking(move || {
        let out = test_support::run_script(
            Command::new(python)
                .arg(dir.join("driver.py"))
                .arg(dir.join("tokens.json"))
                .env_clear()
                .env("JWT_JWKS_URL", url)
                .env("JWT_ALGORITHM", "EdDSA"),
        );
        let _ = std::fs::remove_dir_all(&dir);
        out
    })
    .await
    .unwrap()
    .unwrap();
    assert_jwks_verdicts("python", &output);
}

#[tokio::test]
async fn the_readmes_remote_jwks_recipe_verifies_with_the_published_keys_only() {
    let test = "the README's jose createRemoteJWKSet recipe";
    let code = recipe_in(JWKS_SECTION, "js");
    let modules = match tokio::task::spawn_blocking(node_modules_with_jose).await.unwrap() {
        Ok(dir) => dir,
        Err(why) => return skip(test, &format!("jose could not be installed: {why}")),
    };
    let (app, tokens) = jwks_tokens().await;
    let dir = scratch(&modules, "run-jwks");
    std::fs::write(dir.join("recipe.mjs"), code).unwrap();
    std::fs::write(dir.join("driver.mjs"), NODE_JWKS_DRIVER).unwrap();
    std::fs::write(dir.join("tokens.json"), serde_json::to_vec(&tokens).unwrap()).unwrap();
    let url = app.url("/.well-known/jwks.json");
    let output = tokio::task::spawn_blocking(move || {
        let out = test_support::run_script(
            Command::new("node")
                .arg(dir.join("driver.mjs"))
                .arg(dir.join("tokens.json"))
                .env_clear()
                .env("JWT_JWKS_URL", url)
                .env("JWT_ALGORITHM", "EdDSA"),
        );
        let _ = std::fs::remove_dir_all(&dir);
        out
    })
    .await
    .unwrap()
    .unwrap();
    assert_jwks_verdicts("node", &output);
}
