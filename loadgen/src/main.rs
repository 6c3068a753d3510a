//! The benchmark harness. `bench/run` builds everything in release mode and runs this binary, which:
//!
//! 1. starts auth-service (on Redis, and a second one on the embedded store) and solicitud-service from
//!    the binaries beside it (on Redis following the auth service's revocation feed, on Redis with the
//!    feed off, and on the embedded store), timing each from spawn to `/ready` and reading its idle RSS;
//! 2. loads them from this process over loopback (closed loop: N workers, one keep-alive connection
//!    each) and records every latency;
//! 3. prints one Markdown table with the machine it ran on.
//!
//! Every load scenario also reads the loaded service's CPU time (user + system, all threads, from
//! `/proc/<pid>/stat`) before and after, and prints the service's CPU microseconds per request served:
//! a figure that, unlike throughput, does not move much when other work shares the machine. The
//! request-cost scenarios also read the CPU Redis (`INFO cpu`), this loader and the whole machine
//! (`/proc/stat`) used meanwhile: where a request's CPU goes, and so how far a throughput share of
//! `/health` can go when the three share the cores.
//!
//! `main` reads the flags and runs the scenarios in order, each a method of [`Bench`] (which holds the
//! running services and the table's rows); the pieces are in the modules: `services` (starting them),
//! `steps` (the requests), `measure` (runs and their CPU), `oauth`, `scenarios` and `redis_costs`.
//!
//! `--quick` runs every scenario for a fraction of a second at low concurrency: it proves the harness
//! works (CI runs it) and asserts nothing about speed. `--tokens` runs only the request-cost scenarios
//! (the GETs, refresh, introspect, `/auth/me`), full length, for comparing one change.
//! `--instructions` counts the instructions of the token endpoint's refresh and of `/auth/refresh`
//! under callgrind (the `instructions` module): the comparison CPU time is too noisy for.

// A benchmark harness, not a service: it serves nothing, and a service that does not start or a setup
// request that fails must stop the run loudly, as in a test, rather than print figures of a broken
// run. Hence unwrap/expect/panic throughout (the workspace denies them in the services).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod instructions;
mod measure;
mod oauth;
mod redis_costs;
mod scenarios;
mod services;
mod steps;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use serde_json::json;

use crate::measure::{argon2_bound, cores, load, load_costed, load_on, machine, memory_mib, Run, Step};
use crate::oauth::{
    browser_session, code_exchange_step, oauth_refresh_workers, register_client, register_web_client,
};
use crate::redis_costs::{redis_calls, round_trips_per_refresh, topologies};
use crate::scenarios::{eddsa_next_to_hs256, propagation};
use crate::services::{
    common_vars, create_solicitud, prefix_of, start, with_prefix, Service, Settings, PASSWORD,
};
use crate::steps::{client_credentials_step, get_step, login, post_step, refresh_workers};

#[tokio::main]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let settings = Settings {
        quick,
        tokens_only: std::env::args().any(|a| a == "--tokens"),
        duration: if quick {
            Duration::from_millis(300)
        } else {
            Duration::from_secs(8)
        },
        concurrency: if quick { 4 } else { 32 },
        redis_url: std::env::var("BENCH_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into()),
    };
    if std::env::args().any(|a| a == "--instructions") {
        instructions::refresh_instructions(&settings).await;
        return;
    }
    if std::env::args().any(|a| a == "--topologies") {
        topologies(&settings).await;
        return;
    }
    let mut bench = Bench::start(settings).await;
    let gets = bench.gets().await;
    if !bench.settings.tokens_only {
        bench.propagation().await;
    }
    let tokens = bench.token_endpoints().await;
    bench.where_the_cpu_goes(&gets, &tokens);
    bench.asymmetric_keys().await;
    if !bench.settings.tokens_only {
        bench.logins().await;
    }
    print_table(&bench.settings, &bench.rows);
    if bench.settings.quick {
        // The instruction counts' harness, a handful of requests: that it runs, not what it counts.
        instructions::refresh_instructions(&bench.settings).await;
    }
}

/// The services under load, what every scenario reads them with, and the table so far.
struct Bench {
    settings: Settings,
    rows: Vec<(String, String, String)>,
    client: reqwest::Client,
    /// auth-service on Redis, under `auth_prefix`.
    auth: Service,
    auth_prefix: String,
    /// solicitud-service on the auth service's prefix, following its revocation feed.
    sol: Service,
    /// solicitud-service on Redis with the feed off.
    sol_off: Service,
    /// Both services on the embedded store.
    auth_mem: Service,
    sol_mem: Service,
    /// An admin's access token, and the solicitud each solicitud-service holds.
    access: String,
    id: u64,
    id_off: u64,
    id_mem: u64,
}

/// The GET scenarios' runs, which the CPU breakdown compares the token endpoints with.
struct Gets {
    health: Run,
    get: Run,
    get_mem: Run,
    auth_health: Run,
}

/// The token endpoints' runs.
struct Tokens {
    refresh: Run,
    introspect: Run,
    me: Run,
}

impl Bench {
    /// Scenario 1: starts the five services (timing each to `/ready`), logs in and creates one solicitud on
    /// each solicitud-service.
    async fn start(settings: Settings) -> Self {
        let auth_vars = common_vars(&settings, true);
        let auth_prefix = prefix_of(&auth_vars);
        let auth = start("auth-service", &auth_vars).await;
        let sol = start(
            "solicitud-service",
            &with_prefix(common_vars(&settings, true), &auth_prefix),
        )
        .await;
        let mut off_vars = common_vars(&settings, true);
        off_vars.push(("REVOCATION_FEED_ENABLED", "false".to_string()));
        let sol_off = start("solicitud-service", &off_vars).await;
        let auth_mem = start("auth-service", &common_vars(&settings, false)).await;
        let sol_mem = start("solicitud-service", &common_vars(&settings, false)).await;
        tokio::time::sleep(Duration::from_millis(200)).await;

        let client = reqwest::Client::new();
        let admin = login(&client, &auth).await;
        let access = admin["accessToken"].as_str().unwrap().to_string();
        let id = create_solicitud(&client, &sol, &access).await;
        let id_mem = create_solicitud(&client, &sol_mem, &access).await;
        let id_off = create_solicitud(&client, &sol_off, &access).await;
        let mut bench = Self {
            settings,
            rows: Vec::new(),
            client,
            auth,
            auth_prefix,
            sol,
            sol_off,
            auth_mem,
            sol_mem,
            access,
            id,
            id_off,
            id_mem,
        };
        bench.row(
            "Start to /ready",
            format!(
                "auth-service {:.0} ms (Redis), {:.0} ms (embedded); solicitud-service {:.0} ms",
                bench.auth.ready_after.as_secs_f64() * 1000.0,
                bench.auth_mem.ready_after.as_secs_f64() * 1000.0,
                bench.sol.ready_after.as_secs_f64() * 1000.0
            ),
            "",
        );
        bench.row(
            "Idle RSS",
            format!(
                "auth-service {:.1} MiB, solicitud-service {:.1} MiB",
                memory_mib(bench.auth.pid(), "VmRSS"),
                memory_mib(bench.sol.pid(), "VmRSS")
            ),
            "",
        );
        bench
    }

    fn row(&mut self, what: &str, result: String, target: &str) {
        eprintln!("{what}: {result}");
        self.rows.push((what.to_string(), result, target.to_string()));
    }

    /// `c` workers each sending GET `path` to `service`, with the admin's token when `token`.
    fn getters(&self, service: &Service, path: &str, token: bool) -> Vec<Step> {
        (0..self.settings.concurrency)
            .map(|_| get_step(service.url(path), token.then(|| self.access.clone())))
            .collect()
    }

    /// Scenario 2: the authenticated GET next to `/health` of the same process: the feed on and off, and on
    /// the embedded store; and the auth service's own `/health`, the floor of its endpoints.
    async fn gets(&mut self) -> Gets {
        let (d, redis) = (self.settings.duration, self.settings.redis_url.clone());
        let health = load_costed(
            self.sol.pid(),
            &redis,
            self.getters(&self.sol, "/health", false),
            d,
        )
        .await;
        // The feed on (sol) and off (sol_off), in alternating rounds so the machine's drift hits both alike.
        let rounds = if self.settings.quick || self.settings.tokens_only {
            1
        } else {
            4
        };
        let (mut get, mut get_off) = (Run::default(), Run::default());
        for _ in 0..rounds {
            for (service, id, total) in [
                (&self.sol, self.id, &mut get),
                (&self.sol_off, self.id_off, &mut get_off),
            ] {
                let workers = self.getters(service, &format!("/solicitud/{id}"), true);
                total.add(load_costed(service.pid(), &redis, workers, d / 2).await);
            }
        }
        let workers = self.getters(&self.sol_mem, &format!("/solicitud/{}", self.id_mem), true);
        let get_mem = load_on(self.sol_mem.pid(), workers, d).await;
        self.row("GET /health (solicitud-service)", health.summary_cpu(), "");
        self.row(
            "GET /solicitud/{id} (token verified, embedded store)",
            format!(
                "{} = {:.0}% of /health",
                get_mem.summary_cpu(),
                100.0 * get_mem.rps() / health.rps()
            ),
            "",
        );
        self.row(
            "GET /solicitud/{id} (token verified, Redis read)",
            format!(
                "{} = {:.0}% of /health",
                get.summary_cpu(),
                100.0 * get.rps() / health.rps()
            ),
            "≥ 85% of /health",
        );
        self.row(
            "GET /solicitud/{id} (Redis read, revocation feed off)",
            format!(
                "{} = {:.0}% of /health; the feed on: {:.1}% of this ({rounds} alternating rounds each)",
                get_off.summary_cpu(),
                100.0 * get_off.rps() / health.rps(),
                100.0 * get.rps() / get_off.rps()
            ),
            "",
        );
        let auth_health = load_costed(
            self.auth.pid(),
            &redis,
            self.getters(&self.auth, "/health", false),
            d,
        )
        .await;
        self.row("GET /health (auth-service)", auth_health.summary_cpu(), "");
        Gets {
            health,
            get,
            get_mem,
            auth_health,
        }
    }

    /// Scenario 2b: from a logout's response at the auth service to the first refusal of the same token at the
    /// solicitud service, which follows the revocation feed.
    async fn propagation(&mut self) {
        let n = if self.settings.quick { 10 } else { 300 };
        let delays = propagation(&self.client, &self.auth, &self.sol, n).await;
        self.row(
            "Logout to first refusal at solicitud-service (revocation feed)",
            delays,
            "p99 < 50 ms",
        );
    }

    /// Scenarios 3, 4: refresh (Redis and embedded), client_credentials, code exchanges and the token
    /// endpoint's refresh next to `/auth/refresh`, introspection and `/auth/me`.
    async fn token_endpoints(&mut self) -> Tokens {
        let (c, d, redis) = (
            self.settings.concurrency,
            self.settings.duration,
            self.settings.redis_url.clone(),
        );
        let auth = &self.auth;

        // 3. Refresh, a fresh token every request.
        let workers = refresh_workers(auth, c).await;
        let before = redis_calls(&redis).await;
        let refresh = load_costed(auth.pid(), &redis, workers, d).await;
        let executed = (redis_calls(&redis).await - before) as f64 / refresh.ok.max(1) as f64;
        let trips = round_trips_per_refresh(&redis, auth, &self.auth_prefix, 200).await;
        let refresh_mem = if self.settings.tokens_only {
            None
        } else {
            Some(load_on(self.auth_mem.pid(), refresh_workers(&self.auth_mem, c).await, d).await)
        };

        // 3b. A machine client's token (client_credentials): one keyed hash of its secret, no session.
        let secret = register_client(&self.client, auth, &self.access, "loadgen").await;
        let issuance = load_costed(
            auth.pid(),
            &redis,
            (0..c)
                .map(|_| client_credentials_step(auth.url("/oauth2/token"), "loadgen".into(), secret.clone()))
                .collect(),
            d,
        )
        .await;

        // 3c. OpenID Connect: code exchanges (the authorization endpoint for a signed-in browser, then
        // the token endpoint: a session, an access and a refresh token, an RS256 ID token), and the
        // token endpoint's refresh.
        let web_secret = register_web_client(&self.client, auth, &self.access).await;
        let sso = browser_session(auth).await;
        let exchanges = load_costed(
            auth.pid(),
            &redis,
            (0..c)
                .map(|_| code_exchange_step(auth, sso.clone(), web_secret.clone()))
                .collect(),
            d,
        )
        .await;
        // The token endpoint's refresh next to /auth/refresh, in alternating rounds (fresh chains each
        // round) so the machine's drift hits both alike: one run of each swings by ±20 % here.
        let rounds = if self.settings.quick { 1 } else { 3 };
        let (mut auth_refresh, mut oauth_refresh) = (Run::default(), Run::default());
        for _ in 0..rounds {
            let workers = refresh_workers(auth, c).await;
            auth_refresh.add(load_costed(auth.pid(), &redis, workers, d / 2).await);
            let workers = oauth_refresh_workers(auth, &sso, &web_secret, c).await;
            oauth_refresh.add(load_costed(auth.pid(), &redis, workers, d / 2).await);
        }

        // 4. Introspection, and the user behind an access token (one Redis round trip).
        let introspect = load_costed(
            auth.pid(),
            &redis,
            (0..c)
                .map(|_| post_step(auth.url("/auth/introspect"), json!({ "token": self.access })))
                .collect(),
            d,
        )
        .await;
        let me = load_costed(auth.pid(), &redis, self.getters(auth, "/auth/me", true), d).await;

        self.row(
            "POST /auth/refresh (Redis)",
            refresh.summary_cpu(),
            "≥ 5,000/s; ≤ 40 µs of CPU",
        );
        self.row(
            "Redis round trips per refresh",
            format!(
                "{trips:.2} (MONITOR); {executed:.1} commands executed per refresh, inside the script included (INFO commandstats delta)"
            ),
            "exactly 1",
        );
        if let Some(refresh_mem) = refresh_mem {
            self.row(
                "POST /auth/refresh (embedded store)",
                refresh_mem.summary_cpu(),
                "",
            );
        }
        let per = |run: &Run| run.cpu_us_per_request().unwrap_or(f64::NAN);
        let per_refresh = per(&refresh);
        self.row(
            "POST /oauth2/token, client_credentials (Redis), next to POST /auth/refresh",
            format!(
                "{}; {:.1} µs of auth-service CPU per token against {per_refresh:.1} per refresh = {:.2}x",
                issuance.summary_cpu(),
                per(&issuance),
                per(&issuance) / per_refresh
            ),
            "no more CPU than a refresh",
        );
        self.row(
            "Code exchanges: GET /oauth2/authorize (signed in) + POST /oauth2/token, authorization_code (Redis)",
            format!("{} (CPU per exchange, both requests)", exchanges.summary_cpu()),
            "",
        );
        self.row(
            "POST /oauth2/token, refresh_token (Redis), next to POST /auth/refresh",
            format!(
                "{}; {:.1} µs of auth-service CPU per refresh against {:.1} = {:.2}x ({rounds} alternating rounds each)",
                oauth_refresh.summary_cpu(),
                per(&oauth_refresh),
                per(&auth_refresh),
                per(&oauth_refresh) / per(&auth_refresh)
            ),
            "within 1.2x",
        );
        self.row(
            "POST /auth/introspect (Redis)",
            introspect.summary_cpu(),
            "≥ 10,000/s",
        );
        self.row("GET /auth/me (Redis)", me.summary_cpu(), "");
        Tokens {
            refresh,
            introspect,
            me,
        }
    }

    /// Where each request's CPU goes, and the shares of `/health` it allows. Every scenario keeps both
    /// cores busy (the loader, the service and Redis share them), so throughput is the cores over the
    /// machine's CPU per request, and a share of /health is bounded by what Redis and the loader cost,
    /// whatever the service does.
    fn where_the_cpu_goes(&mut self, gets: &Gets, tokens: &Tokens) {
        let Gets {
            health,
            get,
            get_mem,
            auth_health,
        } = gets;
        let Tokens {
            refresh,
            introspect,
            me,
        } = tokens;
        let ratio = |run: &Run| 100.0 * run.rps() / health.rps();
        self.row(
            "Throughput as a share of GET /health (solicitud-service), same run",
            format!(
                "refresh {:.0}%, introspect {:.0}%, /auth/me {:.0}%, GET /solicitud/{{id}} (Redis) {:.0}%",
                ratio(refresh),
                ratio(introspect),
                ratio(me),
                ratio(get)
            ),
            "refresh ≥ 50%, introspect and /auth/me ≥ 60%, GET ≥ 85%",
        );
        let per = |run: &Run| run.cpu_us_per_request().unwrap_or(f64::NAN);
        self.row(
            "auth-service CPU per request (process CPU seconds / requests served)",
            format!(
                "refresh {:.1} µs, introspect {:.1} µs, /auth/me {:.1} µs, /health {:.1} µs",
                per(refresh),
                per(introspect),
                per(me),
                per(auth_health)
            ),
            "refresh ≤ 40 µs",
        );
        let budget = |run: &Run| run.budget_us().unwrap_or([f64::NAN; 4]);
        let line = |name: &str, run: &Run| {
            let [service, redis, loader, machine] = budget(run);
            format!(
                "{name} {service:.1} + {redis:.1} + {loader:.1} ({machine:.1}; {:.0}% of the cores busy)",
                100.0 * machine * run.rps() / 1e6 / cores()
            )
        };
        self.row(
            "CPU per request, µs: service + Redis + loader (the whole machine)",
            [
                line("solicitud /health", health),
                line("GET /solicitud/{id} (Redis)", get),
                line("auth /health", auth_health),
                line("refresh", refresh),
                line("introspect", introspect),
                line("/auth/me", me),
            ]
            .join("; "),
            "",
        );
        // How far each share could go on this machine, with Redis and the loader as they are: were the
        // endpoint to cost its service no more than its /health, and no more than its /health plus the
        // one Redis round trip it needs (the solicitud GET on Redis less the same GET on the embedded
        // store). The machine's CPU per /health over the endpoint's, with the service's part replaced.
        let round_trip = per(get) - per(get_mem);
        let share_at = |run: &Run, service_us: f64| {
            let [service, _, _, machine] = budget(run);
            100.0 * budget(health)[3] / (machine - service + service_us)
        };
        let shares = |name: &str, run: &Run, floor: &Run| {
            let floor_us = budget(floor)[0];
            format!(
                "{name} {:.0}% (predicted {:.0}%; ceilings {:.0}%, {:.0}%)",
                ratio(run),
                share_at(run, budget(run)[0]),
                share_at(run, floor_us),
                share_at(run, floor_us + round_trip),
            )
        };
        self.row(
            "Share of /health, measured (predicted from the machine's CPU per request; ceilings were the endpoint to cost its service what its /health does, and that plus one Redis round trip)",
            format!(
                "{}; {}; {}; {}; one round trip {round_trip:.1} µs",
                shares("refresh", refresh, auth_health),
                shares("introspect", introspect, auth_health),
                shares("/auth/me", me, auth_health),
                shares("GET (Redis)", get, health),
            ),
            "",
        );
    }

    /// Scenario 4c: asymmetric keys next to HS256: an auth-service signing access tokens with Ed25519 and a
    /// solicitud-service verifying them with the set it fetched from that service's JWKS, against the
    /// HS256 pair above, in alternating rounds. The GET costs the backend one Ed25519 verification per
    /// token and then a cache lookup; a refresh signs its access token with Ed25519 (its refresh token
    /// stays HMAC).
    async fn asymmetric_keys(&mut self) {
        let (get_ed, get_hs, refresh_ed, refresh_hs) =
            eddsa_next_to_hs256(&self.settings, &self.auth, &self.sol, self.id, &self.access).await;
        let per = |run: &Run| run.cpu_us_per_request().unwrap_or(f64::NAN);
        for (what, ed, hs) in [
            (
                "GET /solicitud/{id}, EdDSA token (JWKS) next to HS256: service CPU per request",
                &get_ed,
                &get_hs,
            ),
            (
                "POST /auth/refresh, EdDSA access tokens next to HS256: service CPU per request",
                &refresh_ed,
                &refresh_hs,
            ),
        ] {
            self.row(
                what,
                format!(
                    "EdDSA {:.1} µs, HS256 {:.1} µs = {:.2}x ({} / {})",
                    per(ed),
                    per(hs),
                    per(ed) / per(hs),
                    ed.summary_cpu(),
                    hs.summary_cpu()
                ),
                "≤ 1.3x",
            );
        }
    }

    /// Scenarios 5, 6: login next to the raw argon2 bound of this machine; refresh and the solicitud GET while
    /// a login storm saturates hashing; the auth service's peak memory through a burst of logins.
    async fn logins(&mut self) {
        let (c, d, quick) = (
            self.settings.concurrency,
            self.settings.duration,
            self.settings.quick,
        );
        let login_url = self.auth.url("/auth/login");
        let login_body = json!({"username": "api_user", "password": PASSWORD});
        let loggers = || -> Vec<Step> {
            (0..c)
                .map(|_| post_step(login_url.clone(), login_body.clone()))
                .collect()
        };
        let bound = argon2_bound(d);
        let logins = load(loggers(), d, None).await;
        self.row(
            "argon2id bound (m=19456,t=2,p=1, all cores)",
            format!("{bound:.1} hashes/s"),
            "",
        );
        self.row(
            "POST /auth/login",
            format!(
                "{} = {:.0}% of the bound",
                logins.summary(),
                100.0 * logins.rps() / bound
            ),
            "≥ 90% of the bound",
        );

        let stop = Arc::new(AtomicBool::new(false));
        let storm = tokio::spawn(load(loggers(), d * 3, Some(stop.clone())));
        tokio::time::sleep(Duration::from_millis(if quick { 50 } else { 500 })).await;
        let few = (c / 4).max(1);
        let under_storm_refresh = load(refresh_workers(&self.auth, few).await, d, None).await;
        let getters = self.getters(&self.sol, &format!("/solicitud/{}", self.id), true);
        let under_storm_get = load(getters.into_iter().take(few).collect(), d, None).await;
        stop.store(true, Ordering::Relaxed);
        let storm = storm.await.unwrap();
        for (what, run) in [
            ("Refresh during a login storm", &under_storm_refresh),
            ("GET /solicitud/{id} during a login storm", &under_storm_get),
        ] {
            self.row(
                what,
                format!("p99 {:.2} ms ({})", run.percentile_ms(0.99), run.summary()),
                "p99 < 25 ms",
            );
        }
        self.row("(the storm itself)", storm.summary(), "");

        let burst = if quick { 20 } else { 500 };
        let burst_client = reqwest::Client::new();
        let results =
            join_all((0..burst).map(|_| burst_client.post(&login_url).json(&login_body).send())).await;
        let ok = results
            .iter()
            .filter(|r| matches!(r, Ok(res) if res.status().is_success()))
            .count();
        self.row(
            &format!("Peak RSS of auth-service, {burst} concurrent logins"),
            format!(
                "{:.1} MiB ({ok}/{burst} ok)",
                memory_mib(self.auth.pid(), "VmHWM")
            ),
            "< 256 MiB",
        );
    }
}

fn print_table(settings: &Settings, rows: &[(String, String, String)]) {
    println!("\nMachine: {}", machine());
    println!(
        "Run: {}, {} workers, {:?} per scenario, loader on the same machine\n",
        match (settings.quick, settings.tokens_only) {
            (true, _) => "quick",
            (false, true) => "token endpoints only (--tokens)",
            (false, false) => "full",
        },
        settings.concurrency,
        settings.duration
    );
    println!("| measure | result | target |\n|---|---|---|");
    for (what, result, target) in rows {
        println!("| {what} | {result} | {target} |");
    }
}
