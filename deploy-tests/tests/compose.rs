//! The deployment files, read without a Docker engine: docker-compose.yml against the Compose
//! Specification's JSON schema and against what this deployment needs (health checks, no published
//! port but the gateway's, secrets only from .env, every variable each service reads passed through),
//! the gateway template against the compose wiring, and the Dockerfile and .dockerignore.
//!
//! The variables come from the services' declarations (`shared::config::COMMON`,
//! `auth_service::config::AUTH`, `solicitud_service::config::SOLICITUD`, and the one-process binary's
//! `all_in_one::config::ALL_IN_ONE`), never from their sources:
//! `.env.example` must list exactly the declared ones, each under a comment that carries its doc line
//! and with its default as the value.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};
use shared::config::{FromVars, Kind, VarSpec, WhenUnset};

use common::{read, render, repo, template_variables, TempDir, TEMPLATE};

/// Where the Compose Specification schema is on our own machines (`COMPOSE_SCHEMA` overrides it).
const SCHEMA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/schemas/compose-spec.json"
);

/// Variables that hold secrets (as declared): they come from .env and never from docker-compose.yml.
fn secret_vars() -> BTreeSet<&'static str> {
    declared()
        .into_values()
        .filter(|v| v.kind.is_secret())
        .map(|v| v.name)
        .collect()
}

const APP_SERVICES: &[(&str, u16)] = &[("auth-service", 8001), ("solicitud-service", 8002)];

// ---------------------------------------------------------------------------------------------------
// Reading docker-compose.yml

/// The YAML as JSON (merge keys applied), which is what the schema describes.
fn yaml_to_json(text: &str) -> Value {
    let mut yaml: serde_norway::Value = serde_norway::from_str(text).expect("docker-compose.yml is YAML");
    yaml.apply_merge().expect("YAML merge keys");
    serde_json::to_value(yaml).expect("docker-compose.yml maps to JSON (string keys only)")
}

fn compose() -> Value {
    yaml_to_json(&read("docker-compose.yml"))
}

fn service<'a>(compose: &'a Value, name: &str) -> &'a Value {
    let s = &compose["services"][name];
    assert!(s.is_object(), "docker-compose.yml has no service `{name}`");
    s
}

/// A scalar as the string Compose would see (numbers and booleans included).
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `environment:` in either form (a map, or a list of `NAME=value`).
fn environment(service: &Value) -> BTreeMap<String, String> {
    match &service["environment"] {
        Value::Null => BTreeMap::new(),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| (k.clone(), scalar(v).unwrap_or_default()))
            .collect(),
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .map(|item| match item.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (item.to_string(), String::new()),
            })
            .collect(),
        other => panic!("unexpected environment: {other}"),
    }
}

/// `env_file:` in any of its forms (a string, a list of strings, a list of `{path, required}`).
fn env_files(service: &Value) -> Vec<String> {
    match &service["env_file"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(|i| i.as_str().or_else(|| i["path"].as_str()))
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// Published ports as (host port, container port), short or long syntax.
fn published_ports(service: &Value) -> Vec<(String, String)> {
    let Some(ports) = service["ports"].as_array() else {
        return Vec::new();
    };
    ports
        .iter()
        .map(|p| match p {
            Value::Object(_) => (
                scalar(&p["published"]).unwrap_or_default(),
                scalar(&p["target"]).unwrap_or_default(),
            ),
            other => {
                let short = scalar(other).unwrap_or_default();
                let short = short.split('/').next().unwrap_or_default().to_string();
                let parts: Vec<&str> = short.rsplitn(2, ':').collect();
                match parts.as_slice() {
                    [target, host] => {
                        let host_port = host.rsplit(':').next().unwrap_or_default();
                        (host_port.to_string(), target.to_string())
                    }
                    _ => (String::new(), short),
                }
            }
        })
        .collect()
}

/// The health check's test as one line.
fn healthcheck(service: &Value) -> String {
    match &service["healthcheck"]["test"] {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

fn depends_on_healthy(service: &Value, dependency: &str) -> bool {
    service["depends_on"][dependency]["condition"] == "service_healthy"
}

// ---------------------------------------------------------------------------------------------------
// The schema

/// The schema's validator, or `None` (and a `SKIPPED` line for `test`) when the schema is not at hand
/// outside CI ([`test_support::outside_input`]).
fn validator(test: &str) -> Option<jsonschema::Validator> {
    let path = test_support::outside_input(
        test,
        "the Compose Specification schema",
        "COMPOSE_SCHEMA",
        SCHEMA.into(),
    )?;
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read the Compose schema at {}: {e}", path.display()));
    let schema: Value = serde_json::from_str(&text).expect("the Compose schema is JSON");
    // The schema declares draft-07; say so rather than have its `$schema` looked up.
    Some(jsonschema::draft7::new(&schema).expect("the Compose schema compiles"))
}

fn schema_errors(validator: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    validator
        .iter_errors(instance)
        .map(|e| format!("at `{}`: {e}", e.instance_path()))
        .collect()
}

#[test]
fn docker_compose_yml_is_valid_against_the_compose_specification() {
    let Some(validator) = validator("docker_compose_yml_is_valid_against_the_compose_specification") else {
        return;
    };
    let compose = compose();
    let errors = schema_errors(&validator, &compose);
    assert!(errors.is_empty(), "docker-compose.yml:\n{}", errors.join("\n"));
    assert!(
        compose.get("version").is_none(),
        "the Compose Specification has no `version:`; it is obsolete"
    );
}

/// The TLS override (docker-compose.tls.yml) is valid on its own and only touches the gateway: its
/// ports, its mounts (read-only) and the GATEWAY_ variables the TLS templates use.
#[test]
fn the_tls_override_is_valid_and_touches_only_the_gateway() {
    let Some(validator) = validator("the_tls_override_is_valid_and_touches_only_the_gateway") else {
        return;
    };
    let tls = yaml_to_json(&read("docker-compose.tls.yml"));
    let errors = schema_errors(&validator, &tls);
    assert!(
        errors.is_empty(),
        "docker-compose.tls.yml:\n{}",
        errors.join("\n")
    );
    let services = tls["services"].as_object().expect("services");
    assert_eq!(services.keys().collect::<Vec<_>>(), ["gateway"]);
    let gateway = &tls["services"]["gateway"];
    assert_eq!(
        published_ports(gateway),
        [("8443".to_string(), "8443".to_string())]
    );
    let mounts: Vec<String> = gateway["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    assert!(mounts.iter().all(|m| m.ends_with(":ro")), "{mounts:?}");
    for file in [
        "./deploy/gateway-tls.conf:",
        "./deploy/gateway-http.conf.template:",
    ] {
        let mount = mounts
            .iter()
            .find(|m| m.starts_with(file))
            .unwrap_or_else(|| panic!("{file} {mounts:?}"));
        assert!(
            repo().join(&file[2..file.len() - 1]).is_file(),
            "{mount}: no such file"
        );
    }
    // Every variable the HTTP-side template uses is set by the override or the base file.
    let mut env = environment(service(&compose(), "gateway"));
    env.extend(environment(gateway));
    for name in template_variables(&read("deploy/gateway-http.conf.template")) {
        assert!(
            env.contains_key(&name),
            "deploy/gateway-http.conf.template uses ${name}, which is not set"
        );
    }
    assert_eq!(env.get("GATEWAY_LISTEN").map(String::as_str), Some("8443 ssl"));
}

#[test]
fn the_schema_check_fails_on_broken_copies() {
    let Some(validator) = validator("the_schema_check_fails_on_broken_copies") else {
        return;
    };
    let good = compose();
    // (what, where, what is put there)
    let breakages: [(&str, &[&str], Value); 5] = [
        (
            "a misspelt service key",
            &["services", "redis", "helthcheck"],
            json!({"test": ["CMD", "true"]}),
        ),
        (
            "an unknown depends_on condition",
            &["services", "auth-service", "depends_on", "redis", "condition"],
            json!("ready"),
        ),
        (
            "a health check that is a number",
            &["services", "redis", "healthcheck", "test"],
            json!(42),
        ),
        ("services as a list", &["services"], json!(["redis", "gateway"])),
        ("an unknown top-level key", &["servicez"], json!({})),
    ];
    for (what, path, value) in breakages {
        let mut broken = good.clone();
        let mut at = &mut broken;
        for key in path {
            at = &mut at[*key];
        }
        *at = value;
        assert!(
            !validator.is_valid(&broken),
            "the schema accepted a copy of docker-compose.yml with {what}"
        );
    }
    // And from text: YAML that parses but puts a scalar where the schema wants a map.
    let text = read("docker-compose.yml").replacen("\nvolumes:\n", "\nvolumes: 42\nx-was-volumes:\n", 1);
    assert!(
        !validator.is_valid(&yaml_to_json(&text)),
        "the schema accepted `volumes: 42`"
    );
}

// ---------------------------------------------------------------------------------------------------
// What this deployment needs

#[test]
fn the_four_services_are_wired_for_production() {
    let compose = compose();
    let names: BTreeSet<&str> = compose["services"]
        .as_object()
        .expect("services")
        .keys()
        .map(String::as_str)
        .collect();
    for name in ["redis", "auth-service", "solicitud-service", "gateway"] {
        assert!(names.contains(name), "no `{name}` service");
    }

    // Redis: AOF on a named volume, and a health check.
    let redis = service(&compose, "redis");
    let command = match &redis["command"] {
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" "),
        _ => String::new(),
    };
    assert!(
        command.contains("--appendonly yes"),
        "redis without AOF: `{command}`"
    );
    let volumes = redis["volumes"].as_array().expect("redis has volumes");
    let named: Vec<String> = volumes
        .iter()
        .filter_map(|v| match v {
            Value::String(s) => s.split(':').next().map(str::to_string),
            other => other["source"].as_str().map(str::to_string),
        })
        .filter(|source| compose["volumes"].get(source).is_some())
        .collect();
    assert!(
        !named.is_empty(),
        "redis's data is not on a named volume: {volumes:?}"
    );
    let check = healthcheck(redis);
    assert!(
        check.contains("redis-cli") && check.contains("ping"),
        "redis health check: `{check}`"
    );

    for (name, port) in APP_SERVICES {
        let s = service(&compose, name);
        assert!(s["build"].is_object(), "{name} is not built here");
        assert_eq!(s["build"]["args"]["SERVICE"], *name, "{name}: build arg SERVICE");
        assert_eq!(env_files(s), vec![".env".to_string()], "{name}: env_file");
        assert!(
            depends_on_healthy(s, "redis"),
            "{name} must wait for a healthy redis"
        );
        let check = healthcheck(s);
        assert!(
            check.contains(&format!("127.0.0.1:{port}/ready"))
                || check.contains(&format!("localhost:{port}/ready")),
            "{name}'s health check is not on /ready at port {port}: `{check}`"
        );
        // Scalable, and reachable only through the gateway.
        assert!(
            s.get("container_name").is_none(),
            "{name} has a container_name: it could not scale"
        );
        assert!(
            s.get("ports").is_none(),
            "{name} publishes a port; only the gateway does"
        );
        let env = environment(s);
        assert_eq!(
            env.get("REDIS_URL").map(String::as_str),
            Some("redis://redis:6379"),
            "{name}"
        );
        assert_eq!(
            env.get("APP_ENV").map(String::as_str),
            Some("production"),
            "{name}"
        );
        assert_eq!(env.get("LOG_FORMAT").map(String::as_str), Some("json"), "{name}");
    }
    let auth = environment(service(&compose, "auth-service"));
    assert_eq!(
        auth.get("AUTH_BIND_ADDR").map(String::as_str),
        Some("0.0.0.0:8001")
    );
    let sol = environment(service(&compose, "solicitud-service"));
    assert_eq!(
        sol.get("SOLICITUD_BIND_ADDR").map(String::as_str),
        Some("0.0.0.0:8002")
    );
    // Asymmetric tokens: solicitud-service verifies with auth-service's published keys and holds no
    // secret that could mint one.
    assert_eq!(auth.get("JWT_ALGORITHM").map(String::as_str), Some("EdDSA"));
    assert_eq!(sol.get("JWT_ALGORITHM"), auth.get("JWT_ALGORITHM"));
    assert_eq!(
        sol.get("JWT_JWKS_URL").map(String::as_str),
        Some("http://auth-service:8001/.well-known/jwks.json")
    );
    assert_eq!(
        sol.get("JWT_SECRET").map(String::as_str),
        Some(""),
        "solicitud-service is handed .env's JWT_SECRET"
    );

    // The gateway: the one published port, started once both services are healthy.
    let gateway = service(&compose, "gateway");
    assert!(
        gateway["image"]
            .as_str()
            .unwrap_or_default()
            .starts_with("nginx:"),
        "the gateway runs the official nginx image"
    );
    assert!(
        published_ports(gateway).contains(&("8000".to_string(), "8000".to_string())),
        "the gateway publishes 8000:8000: {:?}",
        gateway["ports"]
    );
    for (name, _) in APP_SERVICES {
        assert!(
            depends_on_healthy(gateway, name),
            "the gateway must wait for a healthy {name}"
        );
    }
    for (name, s) in compose["services"].as_object().expect("services") {
        if name != "gateway" {
            assert!(
                published_ports(s).is_empty(),
                "{name} publishes a port; only the gateway does"
            );
        }
    }
}

#[test]
fn the_gateway_template_is_mounted_and_every_variable_it_uses_is_set() {
    let compose = compose();
    let gateway = service(&compose, "gateway");
    let mounts: Vec<String> = gateway["volumes"]
        .as_array()
        .expect("the gateway mounts its template")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    let mount = mounts
        .iter()
        .find(|m| m.starts_with(&format!("./{TEMPLATE}:")))
        .unwrap_or_else(|| panic!("the gateway does not mount ./{TEMPLATE}: {mounts:?}"));
    let target = mount.split(':').nth(1).unwrap_or_default();
    assert!(
        target.starts_with("/etc/nginx/templates/") && target.ends_with(".conf.template"),
        "the image renders only /etc/nginx/templates/*.template into conf.d: {target}"
    );

    let env = environment(gateway);
    let template = read(TEMPLATE);
    let used = template_variables(&template);
    assert!(used.len() >= 5, "the template uses {used:?}");
    let filter = env
        .get("NGINX_ENVSUBST_FILTER")
        .map(|f| f.trim_start_matches('^').to_string())
        .unwrap_or_default();
    for name in &used {
        assert!(
            env.contains_key(name),
            "the template uses ${{{name}}}, which the gateway does not set"
        );
        assert!(
            name.starts_with(&filter),
            "${{{name}}} is outside NGINX_ENVSUBST_FILTER"
        );
    }
    let vars: BTreeMap<&str, String> = env.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let rendered = render(&template, &vars);
    assert!(template_variables(&rendered).is_empty(), "left unrendered");

    // The upstreams are the services' bind ports; the listen port is the published one.
    assert_eq!(env["GATEWAY_AUTH_UPSTREAM"], "auth-service:8001");
    assert_eq!(env["GATEWAY_SOLICITUD_UPSTREAM"], "solicitud-service:8002");
    assert_eq!(env["GATEWAY_LISTEN"], "8000");
    assert_eq!(env["GATEWAY_RESOLVER"], "127.0.0.11", "Docker's embedded DNS");

    // The routes the contract promises, and the headers and limit the services rely on.
    for needle in [
        "location /auth/",
        "location /v2/auth/",
        "location = /solicitud ",
        "location /solicitud/",
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "proxy_set_header X-Forwarded-Proto $scheme;",
        "proxy_set_header Host $host;",
        "proxy_set_header X-Request-Id $gateway_request_id;",
        "client_max_body_size 16k;",
    ] {
        assert!(rendered.contains(needle), "the gateway config lacks `{needle}`");
    }
}

fn ipv4(text: &str) -> Ipv4Addr {
    text.parse()
        .unwrap_or_else(|_| panic!("`{text}` is not an IPv4 address"))
}

/// `a.b.c.d/n` or a lone address (a /32).
fn cidr(text: &str) -> (u32, u32) {
    let (addr, bits) = text.split_once('/').unwrap_or((text, "32"));
    let bits: u32 = bits.parse().unwrap_or_else(|_| panic!("bad prefix in `{text}`"));
    assert!(bits <= 32, "bad prefix in `{text}`");
    let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
    (u32::from(ipv4(addr)) & mask, mask)
}

fn contains(net: &str, addr: Ipv4Addr) -> bool {
    let (base, mask) = cidr(net);
    u32::from(addr) & mask == base
}

#[test]
fn the_auth_service_trusts_the_gateway_and_nothing_else_on_its_network() {
    let compose = compose();
    let gateway = service(&compose, "gateway");
    let networks = gateway["networks"]
        .as_object()
        .expect("the gateway's networks, as a map");
    let (network, address) = networks
        .iter()
        .find_map(|(name, n)| n["ipv4_address"].as_str().map(|a| (name.clone(), ipv4(a))))
        .expect("the gateway has a fixed ipv4_address, for TRUSTED_PROXIES");
    let ipam = &compose["networks"][&network]["ipam"]["config"][0];
    let subnet = ipam["subnet"].as_str().expect("that network has a fixed subnet");
    assert!(contains(subnet, address), "{address} is outside {subnet}");
    if let Some(range) = ipam["ip_range"].as_str() {
        assert!(
            contains(subnet, cidr(range).0.into()),
            "ip_range {range} outside {subnet}"
        );
        assert!(
            !contains(range, address),
            "{address} is inside ip_range {range}: another container could be given it first"
        );
    }
    for (name, _) in APP_SERVICES {
        let s = service(&compose, name);
        let on = match &s["networks"] {
            Value::Array(a) => a.iter().any(|n| n == network.as_str()),
            Value::Object(m) => m.contains_key(&network),
            _ => false,
        };
        assert!(on, "{name} is not on `{network}`, where the gateway reaches it");
    }

    let trusted = environment(service(&compose, "auth-service"))
        .get("TRUSTED_PROXIES")
        .cloned()
        .expect("auth-service sets TRUSTED_PROXIES");
    let nets: Vec<&str> = trusted
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    assert!(
        nets.iter().any(|n| contains(n, address)),
        "TRUSTED_PROXIES={trusted} does not cover the gateway's {address}"
    );
    for n in &nets {
        assert!(
            contains(subnet, cidr(n).0.into()),
            "TRUSTED_PROXIES names {n}, outside {subnet}"
        );
    }
}

// ---------------------------------------------------------------------------------------------------
// Secrets

/// Every scalar in the document, with its path.
fn scalars(v: &Value, path: String, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                out.push((format!("{path}/{k} (key)"), k.clone()));
                scalars(child, format!("{path}/{k}"), out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                scalars(child, format!("{path}/{i}"), out);
            }
        }
        other => {
            if let Some(s) = scalar(other) {
                out.push((path, s));
            }
        }
    }
}

fn looks_like_a_secret_name(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    secret_vars().contains(n.as_str())
        || ["SECRET", "PASSWORD", "PASSWD", "TOKEN", "PRIVATE", "CREDENTIAL"]
            .iter()
            .any(|w| n.contains(w))
        || n.ends_with("_KEY")
}

#[test]
fn nothing_secret_is_in_docker_compose_yml() {
    assert_nothing_secret_in("docker-compose.yml");
}

#[test]
fn nothing_secret_is_in_docker_compose_cluster_yml() {
    assert_nothing_secret_in(CLUSTER_FILE);
}

/// No secret variable set, no build arg that looks like one, no URL with credentials, nothing that
/// looks like a key, and none of the values in .env.example or a local .env.
fn assert_nothing_secret_in(file: &str) {
    let text = read(file);
    let compose = yaml_to_json(&text);
    for (name, s) in compose["services"].as_object().expect("services") {
        for (key, value) in environment(s) {
            // Set to nothing, a secret's name withholds .env's value from that service.
            assert!(
                !looks_like_a_secret_name(&key) || value.is_empty(),
                "{name} sets {key} in {file}; secrets belong in .env"
            );
        }
        if let Some(args) = s["build"]["args"].as_object() {
            for key in args.keys() {
                assert!(
                    !looks_like_a_secret_name(key),
                    "{file}: {name}: build arg {key} would be baked in"
                );
            }
        }
    }

    let mut all = Vec::new();
    scalars(&compose, String::new(), &mut all);
    for (path, value) in &all {
        // Credentials in a URL (redis://user:password@host).
        if let Some((_, after)) = value.split_once("://") {
            let authority = after.split('/').next().unwrap_or_default();
            assert!(
                !authority.contains('@'),
                "{file}: {path}: a URL with credentials: {value}"
            );
        }
        // Long random-looking tokens (keys, secrets, hashes).
        for word in value.split(|c: char| !(c.is_ascii_alphanumeric() || "+/=_-".contains(c))) {
            let letters = word.chars().any(|c| c.is_ascii_alphabetic());
            let digits = word.chars().any(|c| c.is_ascii_digit());
            assert!(
                !(word.len() >= 32 && letters && digits),
                "{file}: {path}: `{word}` looks like a secret"
            );
        }
    }

    // Neither the example secrets nor, when there is one, the real .env's.
    let mut env_texts = vec![read(".env.example")];
    if let Ok(local) = std::fs::read_to_string(repo().join(".env")) {
        env_texts.push(local);
    }
    let secrets = secret_vars();
    assert!(
        [
            "JWT_SECRET",
            "JWT_PREVIOUS_SECRETS",
            "API_PASSWORD",
            "MFA_ENCRYPTION_KEY"
        ]
        .iter()
        .all(|s| secrets.contains(s)),
        "the declarations lost a secret: {secrets:?}"
    );
    for env_text in env_texts {
        for (key, value) in env_file_values(&env_text) {
            if secrets.contains(key.as_str()) && value.len() >= 8 {
                assert!(!text.contains(&value), "{file} contains the value of {key}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// docker-compose.cluster.yml: the same deployment on a Redis Cluster

/// The optional cluster deployment, used instead of docker-compose.yml.
const CLUSTER_FILE: &str = "docker-compose.cluster.yml";

/// The one-shot service that creates the cluster.
const CLUSTER_INIT: &str = "redis-cluster-init";

fn cluster_compose() -> Value {
    yaml_to_json(&read(CLUSTER_FILE))
}

/// The cluster's nodes: `redis-1` to `redis-6`, in order, each with its fixed address on the
/// gateway's network (the one with the fixed subnet).
fn cluster_nodes(cluster: &Value) -> Vec<(String, Ipv4Addr)> {
    (1..=6)
        .map(|n| {
            let name = format!("redis-{n}");
            let node = &cluster["services"][&name];
            assert!(node.is_object(), "{CLUSTER_FILE} has no service `{name}`");
            let networks = node["networks"]
                .as_object()
                .unwrap_or_else(|| panic!("{name}'s networks, as a map (for its fixed address)"));
            assert_eq!(
                networks.keys().collect::<Vec<_>>(),
                ["backend"],
                "{name} is on the backend network only"
            );
            let address = networks["backend"]["ipv4_address"]
                .as_str()
                .unwrap_or_else(|| panic!("{name} has no fixed ipv4_address"));
            (name, ipv4(address))
        })
        .collect()
}

/// The init service's shell script: `command: [sh, -c, <script>]`, as written (with Compose's `$$`).
fn cluster_init_script(cluster: &Value) -> String {
    let command = cluster["services"][CLUSTER_INIT]["command"]
        .as_array()
        .unwrap_or_else(|| panic!("{CLUSTER_INIT}'s command, as a list"));
    match command.as_slice() {
        [sh, c, script] if sh == "sh" && c == "-c" => script.as_str().expect("a script").to_string(),
        other => panic!("{CLUSTER_INIT} runs {other:?}, not `sh -c <script>`"),
    }
}

/// The addresses the init script creates the cluster from: its `nodes="..."` line.
fn cluster_init_addresses(script: &str) -> Vec<String> {
    let line = script
        .lines()
        .find_map(|l| l.trim().strip_prefix("nodes=\""))
        .unwrap_or_else(|| panic!("{CLUSTER_INIT}'s script has no `nodes=\"...\"` line"));
    line.trim_end_matches('"')
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// A service as docker-compose.yml and the cluster file should both have it: without where Redis is
/// and what it waits for.
fn without_redis_wiring(service: &Value) -> Value {
    let mut service = service.clone();
    if let Some(map) = service.as_object_mut() {
        map.remove("depends_on");
    }
    if let Some(env) = service["environment"].as_object_mut() {
        for name in ["REDIS_URL", "REDIS_CLUSTER_NODES"] {
            env.remove(name);
        }
    }
    service
}

#[test]
fn docker_compose_cluster_yml_is_valid_against_the_compose_specification() {
    let Some(validator) = validator("docker_compose_cluster_yml_is_valid_against_the_compose_specification")
    else {
        return;
    };
    let cluster = cluster_compose();
    let errors = schema_errors(&validator, &cluster);
    assert!(errors.is_empty(), "{CLUSTER_FILE}:\n{}", errors.join("\n"));
    assert!(
        cluster.get("version").is_none(),
        "the Compose Specification has no `version:`; it is obsolete"
    );
    // Merge keys applied, the shared node definition is an extension field, which the schema allows.
    assert!(cluster["x-redis-node"].is_object());
}

/// Six cluster nodes and an init service in place of `redis`; the services, the gateway and the
/// networks as docker-compose.yml has them, but for Redis; a project name of its own.
#[test]
fn the_cluster_file_is_docker_compose_yml_on_six_cluster_nodes() {
    let single = compose();
    let cluster = cluster_compose();
    let nodes = cluster_nodes(&cluster);
    let node_names: Vec<&str> = nodes.iter().map(|(n, _)| n.as_str()).collect();

    let names: BTreeSet<&str> = cluster["services"]
        .as_object()
        .expect("services")
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected: BTreeSet<&str> = node_names.iter().copied().collect();
    expected.extend([CLUSTER_INIT, "auth-service", "solicitud-service", "gateway"]);
    assert_eq!(names, expected);
    assert!(
        cluster["name"].is_string() && cluster["name"] != single["name"],
        "a project name of its own: {}",
        cluster["name"]
    );

    // The nodes: cluster mode, AOF with nodes.conf beside it on a volume of each node's own, a health
    // check that answers before the cluster exists (the init service waits for it).
    let image = service(&single, "redis")["image"].clone();
    let mut node_volumes = BTreeSet::new();
    for name in &node_names {
        let node = &cluster["services"][*name];
        assert_eq!(
            node["image"], image,
            "{name} runs docker-compose.yml's Redis image"
        );
        let command = node["command"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}'s command, as a list"))
            .iter()
            .map(|a| scalar(a).unwrap_or_default())
            .collect::<Vec<_>>()
            .join(" ");
        for needle in [
            "redis-server ",
            "--cluster-enabled yes",
            "--cluster-config-file nodes.conf",
            "--appendonly yes",
        ] {
            assert!(command.contains(needle), "{name}: `{command}` lacks `{needle}`");
        }
        let check = healthcheck(node);
        assert!(
            check.contains("redis-cli") && check.contains("ping"),
            "{name}'s health check: `{check}`"
        );
        let volumes: Vec<&str> = node["volumes"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} has no volumes"))
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let [volume] = volumes.as_slice() else {
            panic!("{name}: one volume, for /data: {volumes:?}");
        };
        let (source, target) = volume.split_once(':').unwrap_or_default();
        assert_eq!(target, "/data", "{name}");
        assert!(
            cluster["volumes"].get(source).is_some(),
            "{name}: `{source}` is not a named volume"
        );
        assert!(
            node_volumes.insert(source.to_string()),
            "{name} shares `{source}`"
        );
    }
    let declared_volumes: BTreeSet<String> = cluster["volumes"]
        .as_object()
        .expect("volumes")
        .keys()
        .cloned()
        .collect();
    assert_eq!(declared_volumes, node_volumes, "a volume per node, and no other");

    // The init service: once every node is healthy, creates the cluster (3 primaries, a replica each)
    // from every node's fixed address, and is not restarted.
    let init = service(&cluster, CLUSTER_INIT);
    assert_eq!(init["image"], image);
    assert_eq!(init["restart"], "no", "{CLUSTER_INIT} runs once per `up`");
    let waits: BTreeSet<&str> = init["depends_on"]
        .as_object()
        .expect("depends_on, as a map")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(waits, node_names.iter().copied().collect());
    for name in &node_names {
        assert!(
            depends_on_healthy(init, name),
            "{CLUSTER_INIT} must wait for a healthy {name}"
        );
    }
    let script = cluster_init_script(&cluster);
    assert!(
        script.contains("redis-cli --cluster create $$nodes --cluster-replicas 1 --cluster-yes"),
        "{script}"
    );
    let addresses: Vec<String> = nodes.iter().map(|(_, ip)| format!("{ip}:6379")).collect();
    assert_eq!(cluster_init_addresses(&script), addresses);

    // Both services: on the cluster (every node a seed) once it has been created, no REDIS_URL, and
    // otherwise exactly as in docker-compose.yml.
    let seeds = node_names
        .iter()
        .map(|n| format!("redis://{n}:6379"))
        .collect::<Vec<_>>()
        .join(",");
    for (name, _) in APP_SERVICES {
        let s = service(&cluster, name);
        let env = environment(s);
        assert_eq!(env.get("REDIS_CLUSTER_NODES"), Some(&seeds), "{name}");
        for other in ["REDIS_URL", "REDIS_SENTINELS", "REDIS_SENTINEL_MASTER"] {
            assert!(!env.contains_key(other), "{name} sets {other} too");
        }
        assert_eq!(
            s["depends_on"],
            json!({CLUSTER_INIT: {"condition": "service_completed_successfully"}}),
            "{name} waits for the cluster to be created, and for nothing else"
        );
        let reads: BTreeSet<&str> = variables_of(name).into_iter().map(|v| v.name).collect();
        for key in env.keys() {
            assert!(
                reads.contains(key.as_str()),
                "{name} sets {key}, which {name} does not read"
            );
        }
        assert_eq!(
            without_redis_wiring(s),
            without_redis_wiring(service(&single, name)),
            "{name} in {CLUSTER_FILE} differs from docker-compose.yml's in more than Redis"
        );
    }
    assert_eq!(
        service(&cluster, "gateway"),
        service(&single, "gateway"),
        "the gateway differs from docker-compose.yml's"
    );
    assert_eq!(
        cluster["networks"], single["networks"],
        "the networks differ from docker-compose.yml's"
    );
    for (name, s) in cluster["services"].as_object().expect("services") {
        if name != "gateway" {
            assert!(
                published_ports(s).is_empty(),
                "{name} publishes a port; only the gateway does"
            );
        }
    }
}

/// The nodes' fixed addresses (what the cluster's redirects name) are on the backend network, outside
/// the range Docker hands out, and none is another's or the gateway's.
#[test]
fn the_cluster_nodes_addresses_are_fixed_and_nobody_elses() {
    let cluster = cluster_compose();
    let ipam = &cluster["networks"]["backend"]["ipam"]["config"][0];
    let subnet = ipam["subnet"].as_str().expect("backend has a fixed subnet");
    let range = ipam["ip_range"].as_str().expect("backend has an ip_range");
    let gateway = ipv4(
        cluster["services"]["gateway"]["networks"]["backend"]["ipv4_address"]
            .as_str()
            .expect("the gateway's fixed address"),
    );
    let mut taken = BTreeSet::from([gateway]);
    for (name, address) in cluster_nodes(&cluster) {
        assert!(contains(subnet, address), "{name}: {address} is outside {subnet}");
        assert!(
            !contains(range, address),
            "{name}: {address} is inside ip_range {range}"
        );
        assert!(taken.insert(address), "{name}: {address} is taken");
    }
}

/// The init service's script, run for real against six local `redis-server --cluster-enabled yes` in
/// place of the containers: it creates the cluster and exits 0 once every node reports
/// cluster_state:ok; run again (the next `up`), it leaves the cluster as it is and exits 0.
#[test]
fn the_cluster_init_script_creates_the_cluster_once_and_then_only_waits_for_it() {
    let cluster = cluster_compose();
    let written = cluster_init_script(&cluster);
    // Compose interpolates `$`: every `$` meant for the shell must be written `$$`.
    assert!(
        !written.replace("$$", "").contains('$'),
        "{CLUSTER_INIT}'s script has a single `$`, which Compose would interpolate:\n{written}"
    );
    let mut script = written.replace("$$", "$");

    let dir = TempDir::new("cluster-init");
    let mut ports = Vec::new();
    while ports.len() < 12 {
        let port = test_support::free_port().unwrap();
        if !ports.contains(&port) {
            ports.push(port);
        }
    }
    let mut nodes = Vec::new();
    for (i, (address, pair)) in cluster_init_addresses(&written)
        .iter()
        .zip(ports.chunks(2))
        .enumerate()
    {
        let (port, bus) = (pair[0], pair[1]);
        let node_dir = dir.0.join(format!("node-{i}"));
        std::fs::create_dir_all(&node_dir).unwrap();
        let (bus, conf, node_dir) = (
            bus.to_string(),
            node_dir.join("nodes.conf").display().to_string(),
            node_dir.display().to_string(),
        );
        nodes.push(
            test_support::RedisProcess::start_with(
                port,
                &[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-port",
                    &bus,
                    "--cluster-config-file",
                    &conf,
                    "--cluster-node-timeout",
                    "1000",
                    "--dir",
                    &node_dir,
                ],
            )
            .unwrap(),
        );
        script = script.replace(address, &format!("127.0.0.1:{port}"));
    }
    assert!(!script.contains("172.16."), "an address left:\n{script}");
    let run = || {
        let out = test_support::run_to_end(
            Command::new("sh").args(["-c", &script]),
            std::time::Duration::from_secs(120),
        )
        .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{CLUSTER_INIT}'s script failed ({}):\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    };
    let cli = |port: u16, args: &[&str]| {
        let out = Command::new("redis-cli")
            .args(["-p", &port.to_string()])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).replace('\r', "")
    };
    let topology = || {
        let mut lines: Vec<String> = cli(nodes[0].port, &["cluster", "nodes"])
            .lines()
            .map(|l| {
                // id, address, role, primary and slots; not the ping/pong times.
                let f: Vec<&str> = l.split_whitespace().collect();
                format!(
                    "{} {} {} {}",
                    f[0],
                    f[1],
                    f[2].replace("myself,", ""),
                    f[8..].join(" ")
                )
            })
            .collect();
        lines.sort();
        lines
    };

    let first = run();
    assert!(
        first.contains("Performing hash slots allocation"),
        "not created:\n{first}"
    );
    assert!(first.contains("cluster_state:ok on every node"), "{first}");
    for node in &nodes {
        let info = cli(node.port, &["cluster", "info"]);
        assert!(info.contains("cluster_state:ok\n"), "{}: {info}", node.port);
        assert!(info.contains("cluster_known_nodes:6\n"), "{}: {info}", node.port);
    }
    // cluster_state:ok comes before every node has heard that the other three are replicas (gossip,
    // a beat later on a loaded machine): wait for the first node's view to say so.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let created = loop {
        let view = topology();
        if view.iter().filter(|l| l.contains(" slave ")).count() == 3 || std::time::Instant::now() > deadline
        {
            break view;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert_eq!(created.len(), 6, "{created:#?}");
    assert_eq!(
        created.iter().filter(|l| l.contains(" master ")).count(),
        3,
        "three primaries: {created:#?}"
    );

    let second = run();
    assert!(
        !second.contains("Performing hash slots allocation"),
        "created again:\n{second}"
    );
    assert!(second.contains("the cluster exists already"), "{second}");
    assert!(second.contains("cluster_state:ok on every node"), "{second}");
    assert_eq!(topology(), created, "the second run changed the cluster");
}

// ---------------------------------------------------------------------------------------------------
// Every variable the services read: from the declarations in each crate's config.rs

/// Every variable a service reads (shared's, then its own), as its crate declares them.
fn variables_of(service: &str) -> Vec<&'static VarSpec> {
    match service {
        "auth-service" => auth_service::config::variables().collect(),
        "solicitud-service" => solicitud_service::config::variables().collect(),
        other => panic!("no service {other}"),
    }
}

/// Every variable any binary reads (either service, and the all-in-one binary that runs both in one
/// process for development), by name.
fn declared() -> BTreeMap<&'static str, &'static VarSpec> {
    APP_SERVICES
        .iter()
        .flat_map(|(service, _)| variables_of(service))
        .chain(all_in_one::config::variables())
        .map(|v| (v.name, v))
        .collect()
}

/// A `NAME=value` line of an env file, if that is what the line is.
fn assignment(line: &str) -> Option<(String, String)> {
    let (k, v) = line.split_once('=')?;
    let k = k.trim();
    let is_name = !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    is_name.then(|| (k.to_string(), v.trim().trim_matches('"').to_string()))
}

/// The value of `NAME=value` lines in an env file.
fn env_file_values(text: &str) -> BTreeMap<String, String> {
    text.lines().map(str::trim).filter_map(assignment).collect()
}

/// Each variable of an env file with its comment: the comment lines right above it, or, for a group
/// of variables under one comment, the comment above the group. A blank line ends a comment.
fn env_file_comments(text: &str) -> BTreeMap<String, String> {
    let mut comment: Vec<&str> = Vec::new();
    let mut after_variable = false;
    let mut out = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if let Some(c) = line.strip_prefix('#') {
            if after_variable {
                comment.clear();
                after_variable = false;
            }
            comment.push(c.trim());
        } else if let Some((name, _)) = assignment(line) {
            out.insert(name, comment.join(" "));
            after_variable = true;
        } else {
            comment.clear();
            after_variable = false;
        }
    }
    out
}

#[test]
fn the_env_file_reader_gives_a_group_its_comment_and_a_blank_line_ends_one() {
    let text = "# head\n\n# Lifetime: value and\n# unit.\nA_VALUE=60\nA_UNIT=minutes\n# Own.\nB=\"x\"\n\nC=\n# not a=variable\n";
    let comments = env_file_comments(text);
    assert_eq!(comments["A_VALUE"], "Lifetime: value and unit.");
    assert_eq!(comments["A_UNIT"], "Lifetime: value and unit.");
    assert_eq!(comments["B"], "Own.");
    assert_eq!(comments["C"], "");
    assert_eq!(comments.len(), 4, "{comments:?}");
    let values = env_file_values(text);
    assert_eq!(values["B"], "x");
    assert_eq!(values["C"], "");
}

#[test]
fn every_declared_variable_is_in_env_example_with_its_doc_line_and_default() {
    let declared = declared();
    assert!(
        declared.len() >= 30,
        "only {} declared: {declared:?}",
        declared.len()
    );
    let text = read(".env.example");
    let values = env_file_values(&text);
    let comments = env_file_comments(&text);
    for (name, spec) in &declared {
        // An operator's .env starts as a copy of .env.example.
        let value = values
            .get(*name)
            .unwrap_or_else(|| panic!("{name} is declared but missing from .env.example (as {name}=)"));
        let comment = &comments[*name];
        assert!(
            comment.contains(spec.doc),
            "{name}: the comment above it in .env.example does not say the declared doc `{}`: `{comment}`",
            spec.doc
        );
        match spec.default {
            WhenUnset::Default(default) => assert_eq!(
                value, default,
                "{name}: .env.example shows {value}, the code's default is {default}"
            ),
            // So that `cp .env.example .env && cargo run` starts.
            WhenUnset::Required => assert!(!value.is_empty(), "{name} is required but empty in .env.example"),
            WhenUnset::Nothing => {}
        }
    }
}

#[test]
fn every_variable_in_env_example_is_declared() {
    let declared = declared();
    let undeclared: Vec<String> = env_file_values(&read(".env.example"))
        .into_keys()
        .filter(|name| !declared.contains_key(name.as_str()))
        .collect();
    assert!(
        undeclared.is_empty(),
        "in .env.example but read by no service (declare it, or drop it): {undeclared:?}"
    );
}

/// A valid stand-in for a secret the operator puts in .env.
fn stand_in(spec: &VarSpec) -> &'static str {
    match spec.kind {
        Kind::Key => "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        Kind::Credentials => "a-backend:a-production-secret-of-more-than-32-bytes",
        _ => "a-production-secret-of-more-than-32-bytes",
    }
}

#[test]
fn compose_passes_to_each_service_what_it_reads_and_the_result_starts() {
    services_accept_the_settings_of(&compose());
}

/// The same for the cluster deployment: its services accept `REDIS_CLUSTER_NODES` as it sets it.
#[test]
fn the_cluster_files_services_accept_its_settings() {
    let cluster = cluster_compose();
    for (name, _) in APP_SERVICES {
        assert!(
            environment(service(&cluster, name)).contains_key("REDIS_CLUSTER_NODES"),
            "{name} is not on the cluster"
        );
    }
    services_accept_the_settings_of(&cluster);
}

fn services_accept_the_settings_of(compose: &Value) {
    let example = env_file_values(&read(".env.example"));
    for (name, _) in APP_SERVICES {
        let s = service(compose, name);
        let reads: BTreeMap<&str, &VarSpec> = variables_of(name).into_iter().map(|v| (v.name, v)).collect();
        // Each service loads the whole .env, so every variable it reads reaches it ...
        assert_eq!(
            env_files(s),
            vec![".env".to_string()],
            "{name} does not load .env"
        );
        // ... and sets nothing it does not read: a misspelt or misplaced name would be silently ignored.
        let env = environment(s);
        for key in env.keys() {
            assert!(
                reads.contains_key(key.as_str()),
                "{name} sets {key}, which {name} does not read"
            );
        }
        // .env.example with real secrets, under compose's environment: the service accepts it.
        let mut vars: BTreeMap<String, String> = example
            .iter()
            .filter(|(k, _)| reads.contains_key(k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for spec in reads.values().filter(|v| v.kind.is_secret()) {
            if spec.kind != Kind::Secrets {
                vars.insert(spec.name.to_string(), stand_in(spec).to_string());
            }
        }
        vars.extend(env);
        let problems = match *name {
            "auth-service" => auth_service::config::AuthConfig::from_pairs(vars).err(),
            _ => solicitud_service::config::SolicitudConfig::from_pairs(vars).err(),
        };
        assert!(
            problems.is_none(),
            "{name} refuses compose's settings:\n{}",
            problems.map(|p| p.to_string()).unwrap_or_default()
        );
    }
}

// ---------------------------------------------------------------------------------------------------
// Dockerfile and .dockerignore

/// The workspace members, from the root Cargo.toml.
fn members() -> Vec<String> {
    let manifest = read("Cargo.toml");
    let start = manifest.find("members").expect("[workspace] members");
    let open = start + manifest[start..].find('[').expect("members = [");
    let close = open + manifest[open..].find(']').expect("members = [...]");
    manifest[open + 1..close]
        .split(',')
        .map(|m| m.trim().trim_matches('"').to_string())
        .filter(|m| !m.is_empty())
        .collect()
}

/// A .dockerignore pattern against a path, as Docker matches them: `*` and `?` within one segment,
/// `**` across any number of them.
fn glob(pattern: &[&str], path: &[&str]) -> bool {
    match (pattern.first(), path.first()) {
        (None, None) => true,
        (Some(&"**"), _) => glob(&pattern[1..], path) || (!path.is_empty() && glob(pattern, &path[1..])),
        (Some(p), Some(s)) => segment(p.as_bytes(), s.as_bytes()) && glob(&pattern[1..], &path[1..]),
        _ => false,
    }
}

fn segment(p: &[u8], s: &[u8]) -> bool {
    match (p.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => segment(&p[1..], s) || (!s.is_empty() && segment(p, &s[1..])),
        (Some(b'?'), Some(_)) => segment(&p[1..], &s[1..]),
        (Some(a), Some(b)) => a == b && segment(&p[1..], &s[1..]),
        _ => false,
    }
}

/// Whether .dockerignore keeps `path` out of the build context (the last matching pattern wins; a
/// pattern matching a parent directory excludes what is inside).
fn ignored(rules: &[(bool, Vec<String>)], path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    let mut excluded = false;
    for (negated, pattern) in rules {
        let pattern: Vec<&str> = pattern.iter().map(String::as_str).collect();
        if (1..=parts.len()).any(|n| glob(&pattern, &parts[..n])) {
            excluded = !negated;
        }
    }
    excluded
}

fn dockerignore() -> Vec<(bool, Vec<String>)> {
    read(".dockerignore")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (negated, p) = match l.strip_prefix('!') {
                Some(p) => (true, p),
                None => (false, l),
            };
            let p = p.trim_start_matches('/').trim_end_matches('/');
            (negated, p.split('/').map(str::to_string).collect())
        })
        .collect()
}

#[test]
fn dockerignore_keeps_secrets_and_build_output_out_and_every_crate_in() {
    let rules = dockerignore();
    for path in [
        "target",
        "target/release/auth-service",
        "auth-service/target/x",
        ".git",
        ".git/config",
        ".env",
        ".env.production",
        "auth-service/.env",
    ] {
        assert!(
            ignored(&rules, path),
            ".dockerignore lets `{path}` into the build context"
        );
    }
    let members = members();
    assert!(members.len() >= 4, "workspace members: {members:?}");
    let mut needed = vec!["Cargo.toml".to_string(), "Cargo.lock".to_string()];
    for m in &members {
        needed.push(format!("{m}/Cargo.toml"));
        needed.push(format!("{m}/src/lib.rs"));
        needed.push(format!("{m}/src/main.rs"));
        needed.push(format!("{m}/src/config.rs"));
    }
    for path in &needed {
        assert!(
            !ignored(&rules, path),
            ".dockerignore keeps `{path}` out, but the build needs it"
        );
    }
    // The matcher itself.
    let rules = vec![
        (false, vec!["**".into(), "x".into()]),
        (true, vec!["a".into(), "x".into()]),
    ];
    assert!(ignored(&rules, "b/c/x/y") && !ignored(&rules, "a/x") && !ignored(&rules, "xx"));
}

/// The Dockerfile's instructions, with continuation lines joined and comment lines dropped.
fn dockerfile_instructions() -> Vec<String> {
    let text = read("Dockerfile");
    let mut instructions: Vec<String> = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') {
            continue;
        }
        if let Some(head) = trimmed.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
        } else {
            current.push_str(trimmed);
            if !current.trim().is_empty() {
                instructions.push(current.trim().to_string());
            }
            current.clear();
        }
    }
    instructions
}

fn keyword(instruction: &str) -> String {
    instruction
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase()
}

#[test]
fn the_dockerfile_is_multi_stage_cached_locked_and_non_root() {
    let instructions = dockerfile_instructions();
    let froms: Vec<usize> = (0..instructions.len())
        .filter(|&i| keyword(&instructions[i]) == "FROM")
        .collect();
    assert!(froms.len() >= 2, "not a multi-stage build");
    // A `# syntax=` line makes BuildKit fetch a frontend image from Docker Hub, even offline.
    assert!(
        !read("Dockerfile")
            .lines()
            .any(|l| l.trim_start().to_ascii_lowercase().starts_with("# syntax=")),
        "the Dockerfile names a BuildKit frontend; nothing in it needs one"
    );
    let last = *froms.last().expect("a FROM");
    let runtime = &instructions[last..];
    assert!(
        instructions[last].contains("debian:") && instructions[last].contains("-slim"),
        "the final image is not Debian slim: {}",
        instructions[last]
    );

    // SERVICE picks the binary.
    assert!(
        runtime.iter().any(|i| i.starts_with("ARG SERVICE")),
        "no ARG SERVICE"
    );
    assert!(
        runtime
            .iter()
            .any(|i| i.starts_with("COPY --from=") && i.contains("target/release/${SERVICE}")),
        "the final stage does not copy target/release/${{SERVICE}}"
    );

    // Non-root.
    let user = runtime
        .iter()
        .rev()
        .find(|i| keyword(i) == "USER")
        .expect("the final stage sets USER");
    let who = user.split_whitespace().nth(1).unwrap_or_default();
    let who = who.split(':').next().unwrap_or_default();
    assert!(!matches!(who, "root" | "0" | ""), "runs as root: {user}");

    // The environment the image sets is made of declared variables.
    let declared = declared();
    for env in runtime.iter().filter(|i| keyword(i) == "ENV") {
        for pair in env.split_whitespace().skip(1) {
            let name = pair.split('=').next().unwrap_or_default();
            assert!(
                declared.contains_key(name),
                "the image sets {name}, which no service reads"
            );
        }
    }

    // A health check on /ready; and curl, which it needs, is installed.
    assert!(
        runtime
            .iter()
            .any(|i| keyword(i) == "HEALTHCHECK" && i.contains("/ready")),
        "no HEALTHCHECK on /ready"
    );
    assert!(
        runtime
            .iter()
            .any(|i| i.starts_with("RUN") && i.contains("apt-get install") && i.contains("curl")),
        "the health check needs curl in the final image"
    );

    // Every cargo build is --release --locked, and the dependencies are built before the sources
    // arrive: some stage builds from the skeleton, then copies everything and builds again.
    let builds: Vec<usize> = (0..instructions.len())
        .filter(|&i| instructions[i].contains("cargo build"))
        .collect();
    assert!(builds.len() >= 2, "expected a dependency build and a final build");
    for &b in &builds {
        for flag in ["--locked", "--release"] {
            assert!(
                instructions[b].contains(flag),
                "cargo build without {flag}: {}",
                instructions[b]
            );
        }
    }
    let copy_all = (0..instructions.len())
        .filter(|&i| i > builds[0] && instructions[i] == "COPY . .")
        .min()
        .expect("COPY . . after the dependency build");
    assert!(
        builds.iter().any(|&b| b > copy_all),
        "no build after the sources are copied"
    );
    let skeleton_stage = froms.iter().rev().find(|&&f| f < builds[0]).expect("a stage");
    assert!(
        instructions[*skeleton_stage..builds[0]]
            .iter()
            .all(|i| i != "COPY . ."),
        "the dependency build sees the real sources, so every code change rebuilds every crate"
    );
    // The toolchain is new enough for the workspace.
    let version = |s: &str| -> Vec<u32> { s.split('.').filter_map(|p| p.parse().ok()).collect() };
    let rust_arg = instructions
        .iter()
        .find_map(|i| i.strip_prefix("ARG RUST_VERSION="))
        .expect("ARG RUST_VERSION=");
    let workspace = read("Cargo.toml");
    let msrv = workspace
        .lines()
        .find_map(|l| l.trim().strip_prefix("rust-version = "))
        .map(|v| v.trim_matches('"').to_string())
        .expect("workspace rust-version");
    assert!(
        version(rust_arg) >= version(&msrv),
        "Dockerfile's RUST_VERSION {rust_arg} is older than the workspace's rust-version {msrv}"
    );
}

/// Copies the build context (the repository less what .dockerignore leaves out) from `from` into `to`.
fn copy_context(from: &Path, relative: &str, to: &Path, rules: &[(bool, Vec<String>)]) {
    let dir = if relative.is_empty() {
        from.to_path_buf()
    } else {
        from.join(relative)
    };
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let entry = entry.expect("a directory entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        let child = if relative.is_empty() {
            name
        } else {
            format!("{relative}/{name}")
        };
        if ignored(rules, &child) {
            continue;
        }
        let kind = entry.file_type().expect("a file type");
        if kind.is_dir() {
            std::fs::create_dir_all(to.join(&child)).unwrap();
            copy_context(from, &child, to, rules);
        } else if kind.is_file() {
            std::fs::copy(entry.path(), to.join(&child)).unwrap();
        }
    }
}

fn files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn the_dockerfiles_skeleton_stage_gives_a_workspace_cargo_builds() {
    // The skeleton stage's RUN steps, run here on a copy of the build context.
    let instructions = dockerfile_instructions();
    let start = instructions
        .iter()
        .position(|i| keyword(i) == "FROM" && i.to_ascii_lowercase().ends_with(" as skeleton"))
        .expect("a stage `AS skeleton`");
    let steps: Vec<&str> = instructions[start + 1..]
        .iter()
        .take_while(|i| keyword(i) != "FROM")
        .filter_map(|i| i.strip_prefix("RUN "))
        .collect();
    assert!(!steps.is_empty(), "the skeleton stage runs nothing");
    let context = TempDir::new("docker-context");
    copy_context(&repo(), "", &context.0, &dockerignore());
    for step in steps {
        let out = Command::new("sh")
            .arg("-c")
            .arg(step)
            .current_dir(&context.0)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "the skeleton step failed: {step}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // Left: the manifests (less their test, bench and example targets), the lock file, stand-ins.
    let mut files = Vec::new();
    files_under(&context.0, &mut files);
    for file in &files {
        let name = file.file_name().unwrap_or_default().to_string_lossy();
        let text = std::fs::read_to_string(file).unwrap_or_default();
        match name.as_ref() {
            "Cargo.lock" => assert_eq!(text, read("Cargo.lock"), "the lock file must stay as it is"),
            "Cargo.toml" => {
                for table in ["[[test]]", "[[bench]]", "[[example]]"] {
                    assert!(!text.contains(table), "{}: {table} left in", file.display());
                }
            }
            _ => assert!(
                text.is_empty() || text == "fn main() {}\n",
                "{} is not a stand-in: {text:?}",
                file.display()
            ),
        }
    }

    // Cargo takes it for the same workspace with the same lock file: each member is there, the
    // services' binaries have their stand-ins, and a build (of the one member without dependencies,
    // so nothing is compiled but a stand-in) loads every member's manifest and targets.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| env!("CARGO").to_string());
    let out = Command::new(&cargo)
        .current_dir(&context.0)
        .args(["metadata", "--no-deps", "--offline", "--format-version", "1"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let metadata: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata's JSON");
    let packages = metadata["packages"].as_array().expect("packages");
    for member in members() {
        let manifest = context.0.join(&member).join("Cargo.toml");
        assert!(
            packages
                .iter()
                .any(|p| p["manifest_path"].as_str().map(Path::new) == Some(manifest.as_path())),
            "the skeleton lost the member {member}"
        );
    }
    for (service, _) in APP_SERVICES {
        let package = packages
            .iter()
            .find(|p| p["name"] == *service)
            .unwrap_or_else(|| panic!("no package {service}"));
        let bin = package["targets"]
            .as_array()
            .and_then(|t| {
                t.iter().find(|t| {
                    t["name"] == *service && t["kind"].as_array().is_some_and(|k| k.contains(&json!("bin")))
                })
            })
            .unwrap_or_else(|| panic!("no binary {service}"));
        let src = bin["src_path"].as_str().unwrap_or_default();
        assert!(
            Path::new(src).is_file(),
            "{service}'s binary has no stand-in at {src}"
        );
    }
    let out = Command::new(&cargo)
        .current_dir(&context.0)
        .env("CARGO_TARGET_DIR", context.0.join("target"))
        .args([
            "build",
            "--offline",
            "--locked",
            "--quiet",
            "-p",
            "deploy-tests",
            "--lib",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo cannot build the skeleton (as `docker build` would run it):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn rendering_replaces_only_the_named_variables() {
    let vars = BTreeMap::from([("GATEWAY_LISTEN", "127.0.0.1:9".to_string())]);
    let text = "listen ${GATEWAY_LISTEN}; $GATEWAY_LISTEN $GATEWAY_LISTENER ${OTHER} $host $ {x} $";
    assert_eq!(
        render(text, &vars),
        "listen 127.0.0.1:9; 127.0.0.1:9 $GATEWAY_LISTENER ${OTHER} $host $ {x} $"
    );
    let names: Vec<String> = template_variables(text).into_iter().collect();
    assert_eq!(names, ["GATEWAY_LISTEN", "GATEWAY_LISTENER", "OTHER"]);
}

// ---------------------------------------------------------------------------------------------------
// deploy/new-env.sh

fn new_env(out: &Path, force: bool) -> std::process::Output {
    let mut cmd = Command::new("sh");
    cmd.arg(repo().join("deploy/new-env.sh")).arg(out);
    if force {
        cmd.env("FORCE", "1");
    }
    cmd.output().expect("sh runs deploy/new-env.sh")
}

/// docs/operating.md's one command for a deployment's .env: fresh secrets that production accepts, the admin
/// password printed once, the file readable by its owner only, and an existing file never replaced
/// unless asked.
#[test]
fn new_env_writes_fresh_secrets_that_production_accepts_and_keeps_an_existing_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("new-env");
    let path = dir.0.join(".env");
    let out = new_env(&path, false);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed = String::from_utf8_lossy(&out.stdout);
    let written = std::fs::read_to_string(&path).unwrap();
    let values = env_file_values(&written);
    let example = env_file_values(&read(".env.example"));
    assert_eq!(
        values.keys().collect::<Vec<_>>(),
        example.keys().collect::<Vec<_>>(),
        "the same variables"
    );
    for name in [
        "JWT_SECRET",
        "API_PASSWORD",
        "MFA_ENCRYPTION_KEY",
        "KEY_ENCRYPTION_KEY",
    ] {
        assert_ne!(values[name], example[name], "{name} is still the example's");
        assert!(
            values[name].len() >= 24,
            "{name} is short: {}",
            values[name].len()
        );
    }
    assert!(
        printed.contains(&format!("with the password: {}\n", values["API_PASSWORD"])),
        "{printed}"
    );
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // Both services accept it under compose's settings (production mode, Redis).
    let compose = compose();
    for (name, _) in APP_SERVICES {
        let mut vars = values.clone();
        vars.extend(environment(service(&compose, name)));
        let problems = match *name {
            "auth-service" => auth_service::config::AuthConfig::from_pairs(vars).err(),
            _ => solicitud_service::config::SolicitudConfig::from_pairs(vars).err(),
        };
        assert!(
            problems.is_none(),
            "{name}: {}",
            problems.map(|p| p.to_string()).unwrap_or_default()
        );
    }

    // Run again: refused, the file untouched; with FORCE=1: new secrets.
    let again = new_env(&path, false);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), written);
    assert!(new_env(&path, true).status.success());
    let replaced = env_file_values(&std::fs::read_to_string(&path).unwrap());
    assert_ne!(replaced["JWT_SECRET"], values["JWT_SECRET"]);
}
