//! The documentation stays true where a test can tell: the API page names every route both services
//! serve, the developers' page every member of the workspace, the README stays a page a newcomer reads
//! in minutes, every relative link leads to a file that exists, and no page names a variable that no
//! service reads (a renamed or mistyped one).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{read, repo};
use shared::routing::Route;

const PAGES: [&str; 4] = [
    "README.md",
    "docs/integrating.md",
    "docs/operating.md",
    "docs/developing.md",
];

#[test]
fn the_api_page_names_every_route_of_both_services_with_its_methods() {
    let page = read("docs/integrating.md");
    let routes: Vec<&Route> = auth_service::routes::table()
        .iter()
        .chain(solicitud_service::routes::table())
        .collect();
    assert!(routes.len() > 30, "only {} routes", routes.len());
    let mut missing = Vec::new();
    for route in routes {
        for method in route
            .methods
            .iter()
            .filter(|m| !matches!(**m, "HEAD" | "OPTIONS"))
        {
            let named = format!("`{method} {}`", route.template);
            let in_a_list = format!("`{method} {}`,", route.template);
            if !page.contains(&named) && !page.contains(&in_a_list) {
                missing.push(format!("{method} {}", route.template));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/integrating.md does not name these routes (as `METHOD /path`): {missing:?}"
    );
}

#[test]
fn the_developers_page_names_every_member_of_the_workspace() {
    let manifest = read("Cargo.toml");
    let members = manifest
        .lines()
        .find_map(|l| l.trim().strip_prefix("members = "))
        .expect("Cargo.toml lists its members on one line");
    let members: Vec<&str> = members
        .trim_matches(|c| c == '[' || c == ']')
        .split(',')
        .map(|m| m.trim().trim_matches('"'))
        .filter(|m| !m.is_empty())
        .collect();
    assert!(members.len() >= 8, "{members:?}");
    let page = read("docs/developing.md");
    let layout = &page[page
        .find("\n## How the code is laid out\n")
        .expect("docs/developing.md has \"How the code is laid out\"")..];
    for member in members {
        assert!(
            layout.contains(&format!("`{member}/`")),
            "docs/developing.md's layout does not name the workspace member `{member}/`"
        );
    }
}

#[test]
fn the_readme_is_a_short_page_that_points_to_the_others() {
    let readme = read("README.md");
    let lines = readme.lines().count();
    assert!(
        lines <= 300,
        "README.md has {lines} lines; the rest belongs in docs/"
    );
    for page in &PAGES[1..] {
        assert!(
            readme.contains(&format!("]({page})")),
            "README.md does not link {page}"
        );
    }
    // The two commands.
    assert!(readme.contains("cp .env.example .env && cargo run -p all-in-one"));
    assert!(readme.contains("cargo test --workspace"));
}

#[test]
fn every_relative_link_of_the_pages_leads_to_a_file_that_exists() {
    for page in PAGES {
        let text = read(page);
        let dir = repo().join(page).parent().unwrap().to_path_buf();
        for link in text.split("](").skip(1).filter_map(|rest| rest.split(')').next()) {
            if link.starts_with("http://") || link.starts_with("https://") || link.starts_with('#') {
                continue;
            }
            let file = link.split('#').next().unwrap_or_default();
            assert!(
                dir.join(file).exists(),
                "{page} links {link}, and {} does not exist",
                dir.join(file).display()
            );
        }
    }
}

#[test]
fn no_page_names_a_variable_that_no_service_reads() {
    for page in PAGES {
        let text = read(page);
        // Every `NAME` and `NAME=value` in backticks, NAME in capitals: a variable or not, the check
        // that a service applies at start decides whether it looks like one of ours.
        let names = text
            .split('`')
            .skip(1)
            .step_by(2)
            .map(|code| code.split('=').next().unwrap_or_default())
            .filter(|name| {
                name.len() > 3
                    && name.contains('_')
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            })
            .map(|name| (name.to_string(), String::new()));
        // The error catalogue's codes (`MFA_INVALID`, `RATE_LIMITED`) are not variables.
        let codes = read("shared/src/error.rs");
        let names = names.filter(|(name, _)| !codes.contains(&format!("\"{name}\"")));
        let unknown = shared::config::unknown_variables(&shared::config::from_pairs(names));
        assert!(
            unknown.is_empty(),
            "{page} names variables that no service reads (name, the closest that one does): {unknown:?}"
        );
    }
}
