//! What both test files need: where things are, and the nginx template rendered the way the official
//! nginx image renders it.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The repository: the workspace root, one level above this crate.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("deploy-tests sits inside the workspace")
        .to_path_buf()
}

pub fn read(relative: &str) -> String {
    let path = repo().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The gateway's nginx config template: the one file docker-compose.yml mounts and gateway.rs runs.
pub const TEMPLATE: &str = "deploy/gateway.conf.template";

/// The variables a template refers to as `$NAME` or `${NAME}` with an upper-case name (nginx's own
/// variables are lower-case).
pub fn template_variables(template: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    substitute(template, |name| {
        if name.starts_with(|c: char| c.is_ascii_uppercase()) {
            found.insert(name.to_string());
        }
        None
    });
    found
}

/// Renders a template like envsubst does with a list of variables (what the official image's
/// 20-envsubst-on-templates.sh runs): `$NAME` and `${NAME}` of the given names are replaced, every
/// other `$` is left alone.
pub fn render(template: &str, vars: &BTreeMap<&str, String>) -> String {
    substitute(template, |name| vars.get(name).cloned())
}

fn substitute(template: &str, mut value_of: impl FnMut(&str) -> Option<String>) -> String {
    let is_start = |c: char| c.is_ascii_alphabetic() || c == '_';
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(braced) = after.strip_prefix('{') {
            if let Some(end) = braced.find('}') {
                let name = &braced[..end];
                if name.starts_with(is_start) && name.chars().all(is_ident) {
                    match value_of(name) {
                        Some(v) => out.push_str(&v),
                        None => out.push_str(&rest[at..at + 1 + 1 + end + 1]),
                    }
                    rest = &braced[end + 1..];
                    continue;
                }
            }
        } else if after.starts_with(is_start) {
            let end = after.find(|c: char| !is_ident(c)).unwrap_or(after.len());
            let name = &after[..end];
            match value_of(name) {
                Some(v) => out.push_str(&v),
                None => {
                    out.push('$');
                    out.push_str(name);
                }
            }
            rest = &after[end..];
            continue;
        }
        out.push('$');
        rest = after;
    }
    out.push_str(rest);
    out
}

/// A directory of our own under the system's temp dir, removed at the end.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(label: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let dir = std::env::temp_dir().join(format!("deploy-tests-{label}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A name no other run uses: the label, this process and the time.
pub fn unique(label: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{label}-{}-{nanos}", std::process::id())
}
