//! One tenant's heavy authorization questions against another tenant's
//! cheap reads, through the real router on a two-worker runtime (the
//! server's shape on this two-core machine), over SQLite.
//!
//! Run: `cargo bench -p tenantry-bench --bench noisy_neighbour`
//!
//! The scenario of the outside review (issue 7): in tenant A a plain member
//! builds the deepest workspace chain the server allows and fires
//! [`CONCURRENT_BULK_CHECKS`] concurrent bulk checks of the largest allowed
//! size about the bottom of it (half allowed through the root, half denied
//! after the whole closure is walked); meanwhile tenant B lists one
//! workspace (`GET /v1/workspaces?limit=1`) again and again. B's median
//! and 99th percentile are reported with and without A's load, in rounds
//! that alternate, side by side in one run, under two configurations (A's
//! load sends its body serialized once and reads only refusals, so that
//! client work does not run on the two workers that serve B):
//!
//! - `limited`: the defaults (depth 64, 1000 items, the default evaluation
//!   budget, heavy evaluations on the bounded pool);
//! - `unlimited`: what the review measured, as near as the code allows:
//!   a 3,000-deep chain, no budget to speak of, and as many evaluation
//!   threads as concurrent bulk checks, so that they compete with the async
//!   workers for both cores. (Evaluation on the async workers themselves,
//!   the original code, is gone; this is the closest setting.)

use std::num::{NonZeroU32, NonZeroU64, NonZeroUsize};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tenantry_api::{ApiConfig, ApiState, router};
use tenantry_bench::store_fixtures::create_tenant;
use tenantry_bench::timing::{Samples, micros, report, report_ratio};
use tenantry_core::service::mint_api_key;
use tenantry_core::{
    ApiKeyHasher, ApiKeyLifetime, ApiKeyName, Authorizer, AuthorizerConfig, Member, Membership,
    MembershipResource, NewUser, Role, Store, StoreLimits, TenantScope, Username,
};
use tenantry_store_sqlite::SqliteStore;
use tower::ServiceExt;

/// Bulk checks tenant A keeps in flight.
const CONCURRENT_BULK_CHECKS: usize = 4;
/// B's requests per round; rounds alternate quiet and loaded.
const REQUESTS_PER_ROUND: usize = 300;
/// Rounds per side.
const ROUNDS_PER_SIDE: usize = 4;

struct Configuration {
    name: &'static str,
    max_workspace_depth: u32,
    evaluation_budget: u64,
    evaluation_threads: usize,
}

fn main() {
    let configurations = [
        Configuration {
            name: "limited",
            max_workspace_depth: StoreLimits::DEFAULT_MAX_WORKSPACE_DEPTH.get(),
            evaluation_budget: AuthorizerConfig::DEFAULT_EVALUATION_BUDGET.get(),
            evaluation_threads: AuthorizerConfig::default_evaluation_threads().get(),
        },
        Configuration {
            name: "unlimited",
            max_workspace_depth: 3_000,
            evaluation_budget: u64::MAX / 2,
            evaluation_threads: CONCURRENT_BULK_CHECKS,
        },
    ];
    let filter: Vec<String> =
        std::env::args().skip(1).filter(|argument| !argument.starts_with('-')).collect();
    for configuration in &configurations {
        if !filter.is_empty() && !filter.iter().any(|wanted| configuration.name == wanted.as_str()) {
            continue;
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(run(configuration));
    }
}

/// A router over a fresh SQLite store, and the keys of tenant A's builder
/// and asker and tenant B's reader.
struct Setup {
    router: Router,
    builder: String,
    asker: (String, String),
    reader: String,
    _directory: tempfile::TempDir,
}

async fn setup(configuration: &Configuration) -> Setup {
    let directory = tempfile::tempdir().expect("temporary directory");
    let store = SqliteStore::open(&directory.path().join("bench.db")).await.expect("open SQLite");
    store.migrate().await.expect("migrate");
    let limits = StoreLimits {
        max_workspace_depth: NonZeroU32::new(configuration.max_workspace_depth).expect("non-zero"),
        ..StoreLimits::defaults()
    };
    let store: Arc<dyn Store> = Arc::new(store.with_limits(limits));
    let hasher = ApiKeyHasher::new(&[7u8; 32]).expect("pepper");
    let (tenant_a, _) = create_tenant(store.as_ref(), "noisy").await;
    let (tenant_b, _) = create_tenant(store.as_ref(), "quiet").await;
    let builder = plain_member(store.as_ref(), &hasher, &tenant_a, "builder").await;
    let asker = plain_member(store.as_ref(), &hasher, &tenant_a, "asker").await;
    let reader = plain_member(store.as_ref(), &hasher, &tenant_b, "reader").await;
    let mut authorizer_config =
        AuthorizerConfig::with_freshness(Duration::from_secs(1), Duration::from_secs(3600));
    authorizer_config.evaluation_budget = NonZeroU64::new(configuration.evaluation_budget).expect("non-zero");
    authorizer_config.evaluation_threads =
        NonZeroUsize::new(configuration.evaluation_threads).expect("non-zero");
    let authorizer = Arc::new(Authorizer::new(store.clone(), authorizer_config));
    let router = router(ApiState::new(store, authorizer, hasher, ApiConfig::defaults()));
    Setup { router, builder: builder.1, asker, reader: reader.1, _directory: directory }
}

/// A new user, a plain `member` of the tenant, with a key: its id and token.
async fn plain_member(
    store: &dyn Store,
    hasher: &ApiKeyHasher,
    scope: &TenantScope,
    label: &str,
) -> (String, String) {
    let username = Username::parse(&format!("{label}-{}", ulid_suffix())).expect("username");
    let user = store
        .ensure_user(&tenantry_core::PlatformScope::operator_cli(), NewUser::from_username(username))
        .await
        .expect("user");
    let membership =
        Membership::new(MembershipResource::Tenant, Member::User(user.id.clone()), Role::Member, None)
            .expect("membership");
    store.set_membership(scope, membership).await.expect("membership");
    let (_, token) = mint_api_key(
        store,
        hasher,
        scope,
        user.id.clone(),
        ApiKeyName::parse(label).expect("key name"),
        ApiKeyLifetime::default_lifetime(),
    )
    .await
    .expect("key");
    (user.id.to_string(), token.expose().to_owned())
}

fn ulid_suffix() -> String {
    tenantry_core::UserId::generate().to_string().to_lowercase().replace("usr_", "")
}

async fn send(
    router: &Router,
    method: &str,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let body = body.map(|body| Bytes::from(body.to_string()));
    let (status, bytes) = send_bytes(router, method, path, token, body).await;
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// Sends an already serialized body and returns the response's bytes: what
/// A's load uses, so that the client's own work (serializing 1000 questions,
/// parsing 1000 answers), which a real client does on its own machine, does
/// not run on the two workers that serve B.
async fn send_bytes(
    router: &Router,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Bytes>,
) -> (StatusCode, Bytes) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(body.map_or_else(Body::empty, Body::from))
        .expect("request");
    let response = router.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let bytes = response.into_body().collect().await.expect("body").to_bytes();
    (status, bytes)
}

async fn run(configuration: &Configuration) {
    let setup = setup(configuration).await;
    // The builder, a plain member, builds the deepest chain allowed: the
    // root is depth 1.
    let started = Instant::now();
    let mut parent: Option<String> = None;
    for level in 1..configuration.max_workspace_depth {
        let body = json!({ "name": format!("level-{level}"), "parent_workspace_id": parent });
        let (status, created) =
            send(&setup.router, "POST", "/v1/workspaces", &setup.builder, Some(&body)).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        parent = created["id"].as_str().map(str::to_owned);
    }
    let deepest = parent.expect("at least one level");
    let body = json!({ "name": "one-too-many", "parent_workspace_id": deepest });
    let (status, refused) = send(&setup.router, "POST", "/v1/workspaces", &setup.builder, Some(&body)).await;
    println!(
        "[{}] chain of {} levels built in {:.2} s; one more: {status} {}",
        configuration.name,
        configuration.max_workspace_depth,
        started.elapsed().as_secs_f64(),
        refused["error"]["code"]
    );

    // The asker, a plain member too, asks about itself: `view` (allowed
    // through the root, every level walked) and `edit` (denied, the whole
    // closure walked), alternating.
    let (asker_id, asker_token) = setup.asker.clone();
    let items: Vec<Value> = (0..ApiConfig::DEFAULT_MAX_BULK_CHECK_ITEMS.get())
        .map(|number| {
            json!({
                "resource": { "type": "workspace", "id": deepest },
                "permission": if number % 2 == 0 { "view" } else { "edit" },
                "subject": { "type": "user", "id": asker_id },
            })
        })
        .collect();
    let bulk = json!({ "items": items });
    let (status, answer) =
        send(&setup.router, "POST", "/v1/permissions/check-bulk", &asker_token, Some(&bulk)).await;
    let bulk = Bytes::from(bulk.to_string());
    println!("[{}] one bulk check alone: {status} {}", configuration.name, summary(&answer));

    let path = "/v1/workspaces?limit=1";
    // Warm up B's index and connection.
    for _ in 0..50 {
        send(&setup.router, "GET", path, &setup.reader, None).await;
    }
    let mut quiet = Samples::with_capacity(REQUESTS_PER_ROUND * ROUNDS_PER_SIDE);
    let mut loaded = Samples::with_capacity(REQUESTS_PER_ROUND * ROUNDS_PER_SIDE);
    let (mut bulk_samples, mut bulk_outcomes) = (Samples::default(), std::collections::BTreeMap::new());
    for round in 0..2 * ROUNDS_PER_SIDE {
        let with_load = round % 2 == 1;
        let stop = Arc::new(AtomicBool::new(false));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let mut load = Vec::new();
        if with_load {
            for _ in 0..CONCURRENT_BULK_CHECKS {
                let (router, token, bulk, stop, in_flight) = (
                    setup.router.clone(),
                    asker_token.clone(),
                    bulk.clone(),
                    stop.clone(),
                    in_flight.clone(),
                );
                load.push(tokio::spawn(async move {
                    let mut outcomes = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        in_flight.fetch_add(1, Ordering::Relaxed);
                        let started = Instant::now();
                        let (status, answer) = send_bytes(
                            &router,
                            "POST",
                            "/v1/permissions/check-bulk",
                            &token,
                            Some(bulk.clone()),
                        )
                        .await;
                        let elapsed = started.elapsed();
                        // Only a refusal is read, for its code.
                        let code = (status != StatusCode::OK)
                            .then(|| serde_json::from_slice::<Value>(&answer).ok())
                            .flatten()
                            .and_then(|answer| answer["error"]["code"].as_str().map(str::to_owned));
                        outcomes.push((elapsed, status, code));
                    }
                    outcomes
                }));
            }
            // Let every bulk check start before B measures.
            while in_flight.load(Ordering::Relaxed) < CONCURRENT_BULK_CHECKS {
                tokio::task::yield_now().await;
            }
        }
        let samples = if with_load { &mut loaded } else { &mut quiet };
        for _ in 0..REQUESTS_PER_ROUND {
            let started = Instant::now();
            let (status, _) = send(&setup.router, "GET", path, &setup.reader, None).await;
            samples.push(started.elapsed());
            assert_eq!(status, StatusCode::OK, "tenant B is never refused");
        }
        stop.store(true, Ordering::Relaxed);
        for task in load {
            for (elapsed, status, code) in task.await.expect("load task") {
                bulk_samples.push(elapsed);
                *bulk_outcomes.entry(format!("{status} {}", code.unwrap_or_default())).or_insert(0) += 1;
            }
        }
    }
    let name = configuration.name;
    report(&format!("[{name}] B: GET /v1/workspaces?limit=1, quiet"), &quiet);
    report(&format!("[{name}] B: GET /v1/workspaces?limit=1, A loading"), &loaded);
    report_ratio(&format!("[{name}] B loaded / quiet"), &loaded, &quiet);
    let p99_ratio = loaded.percentile(0.99).as_secs_f64() / quiet.percentile(0.99).as_secs_f64();
    println!("{:<58} ratio of p99s = {p99_ratio:.3}", format!("[{name}] B loaded / quiet"));
    report(&format!("[{name}] A: check-bulk of 1000, 4 at once"), &bulk_samples);
    println!("[{name}] A's bulk checks by outcome: {bulk_outcomes:?}");
    println!("[{name}] A's bulk checks, median {:.1} ms", micros(bulk_samples.median()) / 1000.0);
}

fn summary(answer: &Value) -> String {
    match answer["results"].as_array() {
        Some(results) => {
            let allowed = results.iter().filter(|result| result["allowed"] == true).count();
            format!("{} answers, {allowed} allowed", results.len())
        }
        None => answer["error"]["code"].to_string(),
    }
}
