//! The limits that keep one tenant from stalling the others: workspace
//! depth, items per bulk check, the evaluation budget and the per-tenant
//! concurrency limit, each answered in the envelope with its own code.

use std::num::{NonZeroU64, NonZeroUsize};
use std::sync::Arc;

use axum::http::{StatusCode, header};
use serde_json::{Value, json};
use tenantry_api::{ApiConfig, ApiState, router};
use tenantry_core::{Authorizer, AuthorizerConfig, PageLimit, Role, StoreLimits, UserId};

use crate::support::{Actor, Call, TEST_MAX_STALENESS, TestApp};

crate::on_both_backends!(
    workspace_depth_is_refused_on_create_and_on_move,
    group_nesting_is_refused_beyond_the_limit,
    bulk_checks_beyond_the_item_limit_are_refused,
    questions_beyond_the_evaluation_budget_are_too_complex,
    a_tenant_at_its_concurrency_limit_is_refused_and_others_are_not,
    pages_beyond_the_servers_largest_are_refused,
    heavy_evaluations_run_on_the_evaluation_threads_at_their_priority,
);

/// The app with its router replaced by one under these settings, over the
/// same database; the state is returned too, for tests that reach into it.
fn reconfigured(app: TestApp, api_config: ApiConfig, evaluation_budget: u64) -> (TestApp, ApiState) {
    let mut authorizer_config = AuthorizerConfig::with_freshness(TEST_MAX_STALENESS, TEST_MAX_STALENESS);
    authorizer_config.evaluation_budget = NonZeroU64::new(evaluation_budget).unwrap();
    let authorizer = Arc::new(Authorizer::new(app.backend.store.clone(), authorizer_config));
    let state = ApiState::new(app.backend.store.clone(), authorizer.clone(), app.hasher.clone(), api_config);
    (TestApp { router: router(state.clone()), authorizer, ..app }, state)
}

/// A chain of `levels` workspaces beneath the actor's root; returns their
/// ids, top first.
async fn chain(app: &TestApp, actor: &Actor, levels: u32) -> Vec<String> {
    let mut ids = Vec::new();
    let mut parent = actor.root_id();
    for level in 0..levels {
        let created = app.create_workspace(&actor.token, &format!("level-{level}"), Some(&parent)).await;
        parent = created["id"].as_str().unwrap().to_owned();
        ids.push(parent.clone());
    }
    ids
}

async fn workspace_depth_is_refused_on_create_and_on_move(app: TestApp) {
    let actor = app.tenant_with_key("deep").await;
    let limit = StoreLimits::defaults().max_workspace_depth.get();
    // The root is depth 1, so limit - 1 more levels fill the tree.
    let ids = chain(&app, &actor, limit - 1).await;
    let deepest = ids.last().unwrap().clone();
    let body = json!({ "name": "one-too-many", "parent_workspace_id": deepest });
    let error = app
        .send(Call::post("/v1/workspaces").key(&actor.token).json(body))
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "workspace_too_deep");
    assert!(error["message"].as_str().unwrap().contains(&limit.to_string()), "{error}");
    // A workspace with a child (height 2) beneath depth limit - 1 would put
    // the child at limit + 1.
    let side = app.create_workspace(&actor.token, "side", None).await;
    let side_id = side["id"].as_str().unwrap();
    app.create_workspace(&actor.token, "side-child", Some(side_id)).await;
    let above_deepest = &ids[ids.len() - 2];
    app.send(
        Call::patch(format!("/v1/workspaces/{side_id}"))
            .key(&actor.token)
            .json(json!({ "parent_workspace_id": above_deepest })),
    )
    .await
    .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "workspace_too_deep");
    let unmoved = app.send(Call::get(format!("/v1/workspaces/{side_id}")).key(&actor.token)).await;
    assert_eq!(unmoved.expect(StatusCode::OK)["parent_workspace_id"], actor.root_id());
}

async fn group_nesting_is_refused_beyond_the_limit(app: TestApp) {
    let actor = app.tenant_with_key("nested").await;
    let limit = StoreLimits::defaults().max_group_depth.get();
    let mut groups = Vec::new();
    for number in 0..=limit {
        let group = app
            .send(
                Call::post("/v1/groups").key(&actor.token).json(json!({ "name": format!("group-{number}") })),
            )
            .await
            .expect(StatusCode::CREATED);
        groups.push(group["id"].as_str().unwrap().to_owned());
    }
    let nest = |container: &str, nested: &str| {
        Call::post(format!("/v1/groups/{container}/members"))
            .key(&actor.token)
            .json(json!({ "group_id": nested, "role": "member" }))
    };
    // limit groups, each holding the next.
    for pair in groups[..limit as usize].windows(2) {
        app.send(nest(&pair[0], &pair[1])).await.expect(StatusCode::CREATED);
    }
    let error = app
        .send(nest(&groups[limit as usize - 1], &groups[limit as usize]))
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "group_too_deep");
    assert!(error["message"].as_str().unwrap().contains("--max-group-depth"), "{error}");
}

fn own_view_question(user_id: &UserId, workspace_id: &str) -> Value {
    json!({
        "resource": { "type": "workspace", "id": workspace_id },
        "permission": "view",
        "subject": { "type": "user", "id": user_id.to_string() },
    })
}

async fn bulk_checks_beyond_the_item_limit_are_refused(app: TestApp) {
    let api_config =
        ApiConfig { max_bulk_check_items: NonZeroUsize::new(3).unwrap(), ..ApiConfig::defaults() };
    let (app, _) = reconfigured(app, api_config, AuthorizerConfig::DEFAULT_EVALUATION_BUDGET.get());
    let actor = app.tenant_with_key("bulky").await;
    let question = own_view_question(&actor.user_id, &actor.root_id());
    let at_limit = json!({ "items": [question, question, question] });
    let answer = app
        .send(Call::post("/v1/permissions/check-bulk").key(&actor.token).json(at_limit))
        .await
        .expect(StatusCode::OK);
    assert_eq!(answer["results"].as_array().unwrap().len(), 3);
    let over = json!({ "items": [question, question, question, question] });
    let error = app
        .send(Call::post("/v1/permissions/check-bulk").key(&actor.token).json(over))
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "too_many_items");
    assert_eq!(error["field"], "items");
    assert!(error["message"].as_str().unwrap().contains("--max-bulk-check-items"), "{error}");
}

/// With a small budget, a tenant admin's question about the bottom of a
/// deep chain (whose proof walks every level up to the tenant's admins; the
/// workspaces' creator would be their admin directly) is refused as too
/// complex, alone, explained and in a bulk check, while a question about
/// the top still fits; the same questions pass under the default budget.
async fn questions_beyond_the_evaluation_budget_are_too_complex(app: TestApp) {
    let creator = app.tenant_with_key("complex").await;
    let ids = chain(&app, &creator, 30).await;
    let admin = app.person(&creator, "inherits", Some(Role::Admin)).await;
    let deep = own_view_question(&admin.user_id, ids.last().unwrap());
    let shallow = own_view_question(&admin.user_id, &ids[0]);
    let actor = Actor { token: admin.token.clone(), ..creator };
    let (small, _) = reconfigured(app, ApiConfig::defaults(), SMALL_BUDGET);
    let fits = small.send(Call::post("/v1/permissions/check").key(&actor.token).json(shallow.clone())).await;
    assert_eq!(fits.expect(StatusCode::OK)["allowed"], true);
    let error = small
        .send(Call::post("/v1/permissions/check").key(&actor.token).json(deep.clone()))
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "too_complex");
    assert!(error["message"].as_str().unwrap().contains("--evaluation-budget"), "{error}");
    let explained = json!({ "explain": true, "resource": deep["resource"], "permission": "view", "subject": deep["subject"] });
    small
        .send(Call::post("/v1/permissions/check").key(&actor.token).json(explained.clone()))
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "too_complex");
    let bulk = json!({ "items": [shallow, deep] });
    small
        .send(Call::post("/v1/permissions/check-bulk").key(&actor.token).json(bulk.clone()))
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "too_complex");

    let (default, _) =
        reconfigured(small, ApiConfig::defaults(), AuthorizerConfig::DEFAULT_EVALUATION_BUDGET.get());
    let answer = default
        .send(Call::post("/v1/permissions/check-bulk").key(&actor.token).json(bulk))
        .await
        .expect(StatusCode::OK);
    assert_eq!(answer["results"], json!([{ "allowed": true }, { "allowed": true }]));
    let explanation = default
        .send(Call::post("/v1/permissions/check").key(&actor.token).json(explained))
        .await
        .expect(StatusCode::OK);
    assert_eq!(explanation["allowed"], true);
}

/// Enough steps to admit the caller and prove `view` near the top of the
/// chain, not enough to walk thirty levels.
const SMALL_BUDGET: u64 = 60;

/// A request held open (its permit taken directly) fills a tenant whose
/// limit is one: its next request is a 429 with `Retry-After`, in the
/// envelope, while another tenant is served; once the request ends, the
/// tenant is served again.
async fn a_tenant_at_its_concurrency_limit_is_refused_and_others_are_not(app: TestApp) {
    let api_config = ApiConfig { max_tenant_concurrency: NonZeroUsize::MIN, ..ApiConfig::defaults() };
    let (app, state) = reconfigured(app, api_config, AuthorizerConfig::DEFAULT_EVALUATION_BUDGET.get());
    let busy = app.tenant_with_key("busy").await;
    let calm = app.tenant_with_key("calm").await;
    let list = |actor: &Actor| Call::get("/v1/workspaces?limit=1").key(&actor.token);
    app.send(list(&busy)).await.expect(StatusCode::OK);

    let held = state.try_acquire_tenant_permit(&busy.tenant.id).unwrap();
    let refused = app.send(list(&busy)).await;
    refused.expect_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert_eq!(refused.headers.get(header::RETRY_AFTER).and_then(|value| value.to_str().ok()), Some("1"));
    app.send(list(&calm)).await.expect(StatusCode::OK);
    drop(held);
    app.send(list(&busy)).await.expect(StatusCode::OK);
}

/// A server whose largest page is 3 (`--max-page-size`) refuses a larger
/// `limit` on lists, the relationship list and lookups, naming the rule and
/// the flag; answers a request without one with 3 items and a cursor; and
/// states the bound in the OpenAPI document it serves.
async fn pages_beyond_the_servers_largest_are_refused(app: TestApp) {
    let api_config = ApiConfig { max_page_size: PageLimit::new(3).unwrap(), ..ApiConfig::defaults() };
    let (app, _) = reconfigured(app, api_config, AuthorizerConfig::DEFAULT_EVALUATION_BUDGET.get());
    let actor = app.tenant_with_key("paged").await;
    for name in ["one", "two", "three", "four"] {
        app.create_workspace(&actor.token, name, None).await;
    }
    let refusal = "limit: must be an integer between 1 and 3 on this server (--max-page-size)";
    for path in ["/v1/workspaces?limit=4", "/v1/relationships?resource_type=workspace&limit=4"] {
        let error = app
            .send(Call::get(path).key(&actor.token))
            .await
            .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
        assert_eq!(error["message"], refusal, "{path}");
    }
    let lookup = json!({
        "resource_type": "workspace",
        "permission": "view",
        "subject": { "type": "user", "id": actor.user_id.to_string() },
        "limit": 4,
    });
    let error = app
        .send(Call::post("/v1/permissions/lookup-resources").key(&actor.token).json(lookup))
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    assert_eq!(error["message"], refusal);

    // Without a limit: the largest page, and a cursor to the rest.
    let page = app.send(Call::get("/v1/workspaces").key(&actor.token)).await.expect(StatusCode::OK);
    assert_eq!(page["items"].as_array().unwrap().len(), 3, "{page}");
    assert!(page["next_cursor"].is_string(), "{page}");
    let page = app.send(Call::get("/v1/workspaces?limit=3").key(&actor.token)).await.expect(StatusCode::OK);
    assert_eq!(page["items"].as_array().unwrap().len(), 3, "{page}");

    let document = app.send(Call::get("/openapi.json")).await.expect(StatusCode::OK);
    let limit = &document["paths"]["/v1/workspaces"]["get"]["parameters"][0];
    assert_eq!((limit["name"].as_str(), limit["schema"]["maximum"].as_u64()), (Some("limit"), Some(3)));
    let lookup_limit = &document["components"]["schemas"]["LookupResourcesRequest"]["properties"]["limit"];
    assert_eq!(lookup_limit["maximum"], 3);
}

/// The calling thread's `nice` value, read from `/proc` (field 19 of its
/// `stat`, counted after the command name, which may hold spaces).
#[cfg(target_os = "linux")]
fn own_niceness() -> i32 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
    let after_name = stat.rsplit_once(") ").unwrap().1;
    after_name.split_whitespace().nth(16).unwrap().parse().unwrap()
}

#[cfg(not(target_os = "linux"))]
fn own_niceness() -> i32 {
    0
}

/// `evaluate_offloaded` (bulk checks, lookups, expand, explanations) answers
/// on the authorizer's own threads, not the async workers, and those
/// threads run at the configured `nice` value while the workers keep
/// theirs; a question that panics is an internal error, not a hang, and the
/// threads answer the next one.
async fn heavy_evaluations_run_on_the_evaluation_threads_at_their_priority(app: TestApp) {
    let actor = app.tenant_with_key("offloaded").await;
    let mut authorizer_config = AuthorizerConfig::with_freshness(TEST_MAX_STALENESS, TEST_MAX_STALENESS);
    authorizer_config.evaluation_threads = NonZeroUsize::new(2).unwrap();
    authorizer_config.evaluation_niceness = 7;
    let authorizer = Authorizer::new(app.backend.store.clone(), authorizer_config);
    let worker = std::thread::current();
    let worker_niceness = own_niceness();
    let consistency = tenantry_core::Consistency::MinimizeLatency;
    for _ in 0..4 {
        let ((thread, name, niceness), _) = authorizer
            .evaluate_offloaded(&actor.scope(), &consistency, |_engine| {
                let thread = std::thread::current();
                (thread.id(), thread.name().map(str::to_owned), own_niceness())
            })
            .await
            .unwrap();
        assert_ne!(thread, worker.id());
        assert!(name.as_deref().is_some_and(|name| name.starts_with("tenantry-eval-")), "{name:?}");
        if cfg!(target_os = "linux") {
            assert_eq!(niceness, worker_niceness.max(7));
        }
    }
    assert_eq!(own_niceness(), worker_niceness, "the asking thread keeps its priority");
    let panicked = authorizer
        .evaluate_offloaded(&actor.scope(), &consistency, |_engine| -> bool { panic!("a bug in a question") })
        .await;
    assert!(matches!(panicked, Err(tenantry_core::Error::Internal(_))), "{panicked:?}");
    let (answer, _) =
        authorizer.evaluate_offloaded(&actor.scope(), &consistency, |_engine| 42).await.unwrap();
    assert_eq!(answer, 42);
}
