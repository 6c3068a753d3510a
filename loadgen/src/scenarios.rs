//! The scenarios that need more than one run: EdDSA next to HS256, and a revocation's propagation.

use std::time::{Duration, Instant};

use crate::measure::{load_costed, Run};
use crate::services::{
    common_vars, create_solicitud, prefix_of, start, with_prefix, Service, Settings, MFA_KEY,
};
use crate::steps::{get_step, login, refresh_workers};
use base64::Engine as _;
use serde_json::Value;

/// The GET and the refresh with EdDSA access tokens and with HS256 ones, in alternating rounds (the
/// HS256 pair is the one already running: `auth`, `sol` and its solicitud `id`, read with `access`).
/// Returns (GET EdDSA, GET HS256, refresh EdDSA, refresh HS256).
pub(crate) async fn eddsa_next_to_hs256(
    settings: &Settings,
    auth: &Service,
    sol: &Service,
    id: u64,
    access: &str,
) -> (Run, Run, Run, Run) {
    let mut auth_vars = common_vars(settings, true);
    auth_vars.push(("JWT_ALGORITHM", "EdDSA".to_string()));
    // Any 32 bytes seal the generated key's private half in the store.
    auth_vars.push(("KEY_ENCRYPTION_KEY", MFA_KEY.to_string()));
    let prefix = prefix_of(&auth_vars);
    let auth_ed = start("auth-service", &auth_vars).await;
    // The backend holds no secret: only the JWKS URL.
    let mut sol_vars = with_prefix(common_vars(settings, true), &prefix);
    sol_vars.retain(|(k, _)| *k != "JWT_SECRET");
    sol_vars.push(("JWT_ALGORITHM", "EdDSA".to_string()));
    sol_vars.push(("JWT_JWKS_URL", auth_ed.url("/.well-known/jwks.json")));
    let sol_ed = start("solicitud-service", &sol_vars).await;
    let client = reqwest::Client::new();
    let access_ed = login(&client, &auth_ed).await["accessToken"]
        .as_str()
        .unwrap()
        .to_string();
    let header = access_ed.split('.').next().unwrap();
    let header: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "EdDSA", "the EdDSA service signed with {header}");
    let id_ed = create_solicitud(&client, &sol_ed, &access_ed).await;

    let (c, d) = (settings.concurrency, settings.duration);
    let rounds = if settings.quick { 1 } else { 2 };
    let (mut get_ed, mut get_hs, mut refresh_ed, mut refresh_hs) =
        (Run::default(), Run::default(), Run::default(), Run::default());
    for _ in 0..rounds {
        for (service, id, token, total) in [
            (&sol_ed, id_ed, &access_ed, &mut get_ed),
            (sol, id, &access.to_string(), &mut get_hs),
        ] {
            let workers = (0..c)
                .map(|_| get_step(service.url(&format!("/solicitud/{id}")), Some(token.clone())))
                .collect();
            total.add(load_costed(service.pid(), &settings.redis_url, workers, d / 2).await);
        }
        for (service, total) in [(&auth_ed, &mut refresh_ed), (auth, &mut refresh_hs)] {
            let workers = refresh_workers(service, c).await;
            total.add(load_costed(service.pid(), &settings.redis_url, workers, d / 2).await);
        }
    }
    (get_ed, get_hs, refresh_ed, refresh_hs)
}

/// The status of a GET of `url` with `access`.
async fn status_of(client: &reqwest::Client, url: &str, access: &str) -> u16 {
    client
        .get(url)
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// `n` times: log in, check the token is accepted at `sol`, log out, then ask `sol` with the same token
/// without pause until it answers 401; the time from the logout's response to that first refusal.
pub(crate) async fn propagation(client: &reqwest::Client, auth: &Service, sol: &Service, n: usize) -> String {
    let probe = sol.url("/solicitud/999999999");
    let mut delays_us = Vec::with_capacity(n);
    for _ in 0..n {
        let access = login(client, auth).await["accessToken"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(
            status_of(client, &probe, &access).await,
            404,
            "the fresh token is accepted (then not found)"
        );
        let res = client
            .post(auth.url("/auth/logout"))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success());
        let _ = res.bytes().await;
        let answered = Instant::now();
        loop {
            if status_of(client, &probe, &access).await == 401 {
                break;
            }
            assert!(
                answered.elapsed() < Duration::from_secs(5),
                "still accepted 5 s after logout"
            );
        }
        delays_us.push(answered.elapsed().as_micros() as u64);
    }
    delays_us.sort_unstable();
    let at = |p: f64| delays_us[((delays_us.len() as f64 - 1.0) * p).round() as usize] as f64 / 1000.0;
    format!(
        "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} logouts)",
        at(0.50),
        at(0.99),
        at(1.0),
        delays_us.len()
    )
}
