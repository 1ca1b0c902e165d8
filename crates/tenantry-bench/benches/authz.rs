//! tenantry's authorization engine and casbin-rs side by side: the same data,
//! the same questions, in one run. Memory of each at about a million
//! relationships, then per kind of question the latency of single checks
//! (interleaved, alternating which engine goes first), the throughput of a
//! tight loop on one thread, their ratios, and how many answers differ.
//!
//! Run: `cargo bench -p tenantry-bench --features casbin --bench authz`
//!
//! # The data
//!
//! `tenantry_bench::authz_data`, the same as `tenantry-authz`'s `engine`
//! benchmark: 100 tenants, 10k users, 1k groups nested three deep, 10k
//! workspaces in trees eight levels deep, about a million relationships of
//! the default schema. tenantry's index is built from them as they are;
//! casbin's rows are translated from the same relationships.
//!
//! # The questions
//!
//! Four kinds, each asked of both engines: the permission a user's own role
//! on a workspace grants (`view`, `edit` or `manage`; all allowed); `edit` on
//! a workspace eight levels down, for the user whose only way in is three
//! nested groups holding `editor` on the root (allowed); `manage` for the
//! same user and workspaces (denied); `view` on them for a user of another
//! tenant (denied). Neither engine caches answers (casbin's
//! `CachedEnforcer` would, and the questions repeat). tenantry's `Engine` is
//! bound once, as the enforcer is built once; binding costs about 2 µs (see
//! the `engine` benchmark), paid once per request or batch.
//!
//! casbin-rs 2.20 without default features but `runtime-tokio` (needed to
//! build; nothing here does IO): no `incremental`, `cached`, `logging`.
//!
//! # The casbin model: RBAC with domains, one role per permission of an object
//!
//! The domain is the tenant. Every permission (or relation) of an object is
//! a casbin role named `object/permission`, such as `workspace:w5/edit` (not
//! `#`, which casbin's model text reads as a comment). A request
//! `(user, tenant, workspace, action)` is allowed when the user has the role
//! `workspace/action` in the tenant's domain:
//!
//! ```text
//! [request_definition]
//! r = sub, dom, obj, act
//! [policy_definition]
//! p = act
//! [role_definition]
//! g = _, _, _
//! [policy_effect]
//! e = some(where (p.eft == allow))
//! [matchers]
//! m = r.act == p.act && g(r.sub, r.obj + "/" + r.act, r.dom)
//! ```
//!
//! with three policies, `p, manage`, `p, edit`, `p, view`. Each relationship
//! becomes grouping rows `g, member, role, tenant` ("member has role"):
//!
//! | relationship | rows |
//! |---|---|
//! | `workspace:W#admin@S`, `#editor@S`, `#member@S` | `S → W/manage`, `S → W/edit`, `S → W/view_by_role` |
//! | `workspace:W#parent@workspace:P` | `P/manage → W/manage`, `P/edit → W/edit`, `P/view_by_role → W/view_by_role` (roles flow down the tree) |
//! | `workspace:W#tenant@tenant:T` | `T/manage → W/manage`, and the schema's implications for W: `W/manage → W/edit → W/view_by_role → W/view` |
//! | `workspace:R#root_of@tenant:T` | `T/view → R/view` (`R/view` leads nowhere, so it does not flow down) |
//! | `tenant:T#admin@S`, `#member@S` | `S → T/manage`, `S → T/view` |
//! | `tenant:T#platform@platform:main` | `platform:main/admin → T/manage`, `T/manage → T/view` |
//! | `group:G#member@S`, `#admin@S` | `S → G/member`, `S → G/manage` |
//! | `group:G#tenant@tenant:T` | `T/manage → G/manage`, `G/manage → G/view`, `G/member → G/view` |
//! | `platform:main#admin@user:U` | `user:U → platform:main/admin`, in every tenant's domain |
//!
//! where `S` is `user:U`, or `group:G/member` for the subject set
//! `group:G#member`, so nested groups are role inheritance. The rows that
//! stand for the schema (a workspace's implications) are written with the
//! object's `tenant` relationship, which every workspace and group has once.
//!
//! This puts the whole model in casbin's role graph, and a check is one
//! matcher evaluation and one breadth-first search from the user: casbin's
//! fastest path. The textbook RBAC-with-domains model, a policy row per
//! grant (`p, role, tenant, workspace, action`) with `g2` for the
//! workspace tree, would make casbin evaluate its matcher once per policy
//! row, tens of thousands of rows per check at this size.
//!
//! # Where the semantics differ
//!
//! * casbin's role manager is documented to follow links at most
//!   `max_hierarchy_level` deep, 10 by default. The longest chain here is 13
//!   (user → three groups → the root's `edit` → seven parents →
//!   `view_by_role` → `view`), so the bench gives casbin a
//!   `DefaultRoleManager` of [`MAX_HIERARCHY_LEVEL`]. (In casbin-rs 2.20 the
//!   limit hardly applies: its breadth-first search counts a level only when
//!   its queue runs empty, so the default of 10 gives the same answers here.)
//!   tenantry has no depth limit.
//! * The platform admin is one global relationship in tenantry; casbin's
//!   roles live in one domain each, so it is linked into every tenant's
//!   domain (100 rows).
//! * casbin is told the tenant with every question (its domain) and only
//!   searches that tenant's graph; tenantry is not told, and finds a
//!   workspace's tenant through its relationships. For a user of another
//!   tenant this is a miss in the domain for casbin and a full walk for
//!   tenantry.
//! * Neither side uses expiry, exclusion or intersection: the default schema
//!   has none, and casbin's role graph cannot express them.
//! * casbin keeps no second copy of the rows in its adapter: auto-save is
//!   off, so the memory figure is the model and the role graphs.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use cap::Cap;
use casbin::{CoreApi, DefaultModel, DefaultRoleManager, Enforcer, MemoryAdapter, MgmtApi};
use parking_lot::RwLock;
use tenantry_authz::{DEFAULT_SCHEMA, Engine, ObjectRef, Relationship, Schema, SubjectRef};
use tenantry_bench::authz_data::{self, Dataset, Question, Random, TENANTS};
use tenantry_bench::timing::{Samples, measure_build, per_second, report, report_per_second, report_ratio};

#[global_allocator]
static ALLOCATOR: Cap<std::alloc::System> = Cap::new(std::alloc::System, usize::MAX);

const CASBIN_MODEL: &str = r#"
[request_definition]
r = sub, dom, obj, act

[policy_definition]
p = act

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = r.act == p.act && g(r.sub, r.obj + "/" + r.act, r.dom)
"#;

/// The actions casbin's policy allows, one policy row each.
const ACTIONS: [&str; 3] = ["manage", "edit", "view"];

/// How deep casbin's role manager should follow links: above the longest
/// chain of the data (13), with room.
const MAX_HIERARCHY_LEVEL: usize = 32;

/// The casbin role standing for `name` on `object`.
fn role(object: &ObjectRef, name: &str) -> String {
    format!("{object}/{name}")
}

/// A subject as a casbin name: the user itself, or the role of a subject set.
fn member(subject: &SubjectRef) -> String {
    match subject.relation() {
        Some(relation) => role(subject.object_ref(), relation),
        None => subject.object_ref().to_string(),
    }
}

/// The `(member, role)` links that stand for one relationship (see the
/// table in the module docs).
fn links(relationship: &Relationship) -> Vec<(String, String)> {
    let resource = relationship.resource();
    let subject = relationship.subject();
    let target = subject.object_ref();
    let own = |from: &str, to: &str| (role(resource, from), role(resource, to));
    match (resource.object_type(), relationship.relation()) {
        ("workspace", "admin") => vec![(member(subject), role(resource, "manage"))],
        ("workspace", "editor") => vec![(member(subject), role(resource, "edit"))],
        ("workspace", "member") => vec![(member(subject), role(resource, "view_by_role"))],
        ("workspace", "parent") => ["manage", "edit", "view_by_role"]
            .into_iter()
            .map(|name| (role(target, name), role(resource, name)))
            .collect(),
        ("workspace", "tenant") => vec![
            (role(target, "manage"), role(resource, "manage")),
            own("manage", "edit"),
            own("edit", "view_by_role"),
            own("view_by_role", "view"),
        ],
        ("workspace", "root_of") => vec![(role(target, "view"), role(resource, "view"))],
        ("tenant", "admin") => vec![(member(subject), role(resource, "manage"))],
        ("tenant", "member") => vec![(member(subject), role(resource, "view"))],
        ("tenant", "platform") => {
            vec![(role(target, "admin"), role(resource, "manage")), own("manage", "view")]
        }
        ("group", "member") => vec![(member(subject), role(resource, "member"))],
        ("group", "admin") => vec![(member(subject), role(resource, "manage"))],
        ("group", "tenant") => vec![
            (role(target, "manage"), role(resource, "manage")),
            own("manage", "view"),
            own("member", "view"),
        ],
        ("platform", "admin") => vec![(member(subject), role(resource, "admin"))],
        (object_type, relation) => panic!("no casbin translation for {object_type}#{relation}"),
    }
}

/// casbin's grouping rows for the whole data set.
fn grouping_rows(dataset: &Dataset) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for (number, tenant) in dataset.tenants().iter().enumerate() {
        let domain = authz_data::tenant(number);
        let texts = tenant.relationships().iter().chain(dataset.platform_relationships());
        for text in texts {
            let relationship: Relationship = text.parse().expect("valid relationship");
            for (member, role) in links(&relationship) {
                rows.push(vec![member, role, domain.clone()]);
            }
        }
    }
    rows
}

/// casbin's enforcer with the whole data set, and how many rows it holds.
async fn build_casbin(dataset: &Dataset) -> (Enforcer, usize) {
    let model = DefaultModel::from_str(CASBIN_MODEL).await.expect("the casbin model parses");
    let mut enforcer = Enforcer::new(model, MemoryAdapter::default()).await.expect("an empty enforcer");
    enforcer.enable_auto_save(false);
    enforcer
        .set_role_manager(Arc::new(RwLock::new(DefaultRoleManager::new(MAX_HIERARCHY_LEVEL))))
        .expect("a role manager");
    let policies = ACTIONS.iter().map(|action| vec![(*action).to_owned()]).collect();
    assert!(enforcer.add_policies(policies).await.expect("policies"));
    let rows = grouping_rows(dataset);
    let count = rows.len();
    // One call: without casbin's `incremental` feature, every call rebuilds
    // all role links.
    assert!(enforcer.add_grouping_policies(rows).await.expect("grouping rows"), "every row is new");
    (enforcer, count)
}

/// One question in each engine's terms.
struct Asked {
    tenantry: (ObjectRef, &'static str, SubjectRef),
    /// `(sub, dom, obj, act)`.
    casbin: [String; 4],
    /// The workspace's tenant number.
    tenant: usize,
}

impl Asked {
    fn new(question: &Question) -> Self {
        let resource = question.resource();
        let subject = question.subject();
        Self {
            tenantry: (
                resource.parse().expect("valid object"),
                question.permission,
                subject.parse().expect("valid subject"),
            ),
            casbin: [subject, question.tenant(), resource, question.permission.to_owned()],
            tenant: question.tenant,
        }
    }
}

/// The two engines, each behind one function answering an [`Asked`].
struct Engines<'a> {
    tenantry: Engine<'a>,
    /// Bound to each tenant's own index, as tenantry-core keeps them.
    tenantry_per_tenant: Vec<Engine<'a>>,
    casbin: Enforcer,
}

/// Which of tenantry's indexes a comparison asks.
#[derive(Debug, Clone, Copy)]
enum TenantryIndex {
    /// One index of every tenant's relationships.
    PlatformWide,
    /// The workspace's tenant's own index (its relationships and the
    /// platform's), as casbin is handed the tenant as its domain.
    TenantOwn,
}

impl Engines<'_> {
    fn tenantry(&self, asked: &Asked, tenantry_index: TenantryIndex) -> bool {
        let (resource, permission, subject) = &asked.tenantry;
        let engine = match tenantry_index {
            TenantryIndex::PlatformWide => &self.tenantry,
            TenantryIndex::TenantOwn => &self.tenantry_per_tenant[asked.tenant],
        };
        engine.check(resource, permission, subject).expect("a question the schema defines")
    }

    fn casbin(&self, asked: &Asked) -> bool {
        let [subject, domain, object, action] = &asked.casbin;
        self.casbin
            .enforce((subject.as_str(), domain.as_str(), object.as_str(), action.as_str()))
            .expect("a well-formed request")
    }

    /// Latency of single checks interleaved, alternating which engine goes
    /// first; then throughput in the order tenantry, casbin, casbin,
    /// tenantry. Every answer of both is compared.
    fn compare(&self, name: &str, questions: &[Question], tenantry_index: TenantryIndex) {
        let asked: Vec<Asked> = questions.iter().map(Asked::new).collect();
        let mut tenantry = Samples::with_capacity(asked.len());
        let mut casbin = Samples::with_capacity(asked.len());
        let (mut allowed, mut mismatches) = (0, 0);
        for (number, question) in asked.iter().enumerate() {
            // Alternate which engine goes first, so that neither always runs
            // on a cache the other has just warmed.
            let (tenantry_answer, casbin_answer) = if number % 2 == 0 {
                let tenantry_answer = timed(&mut tenantry, || self.tenantry(question, tenantry_index));
                (tenantry_answer, timed(&mut casbin, || self.casbin(question)))
            } else {
                let casbin_answer = timed(&mut casbin, || self.casbin(question));
                (timed(&mut tenantry, || self.tenantry(question, tenantry_index)), casbin_answer)
            };
            allowed += usize::from(tenantry_answer);
            mismatches += usize::from(tenantry_answer != casbin_answer);
        }
        let tenantry_rate_first = per_second(&asked, 1, |question| self.tenantry(question, tenantry_index));
        let casbin_rate_first = per_second(&asked, 1, |question| self.casbin(question));
        let casbin_rate_second = per_second(&asked, 1, |question| self.casbin(question));
        let tenantry_rate_second = per_second(&asked, 1, |question| self.tenantry(question, tenantry_index));
        let tenantry_rate = harmonic_mean([tenantry_rate_first, tenantry_rate_second]);
        let casbin_rate = harmonic_mean([casbin_rate_first, casbin_rate_second]);

        println!("{name}: {allowed} of {} allowed by tenantry, {mismatches} answers differ", asked.len());
        report("  tenantry check", &tenantry);
        report("  casbin enforce", &casbin);
        report_ratio("  casbin / tenantry", &casbin, &tenantry);
        report_per_second("  tenantry", asked.len() * 2, tenantry_rate);
        report_per_second("  casbin", asked.len() * 2, casbin_rate);
        println!("{:<58} ratio of throughputs = {:.3}", "  tenantry / casbin", tenantry_rate / casbin_rate);
    }
}

/// Times one answer into `samples`.
fn timed(samples: &mut Samples, ask: impl FnOnce() -> bool) -> bool {
    let started = Instant::now();
    let answer = black_box(ask());
    samples.push(started.elapsed());
    answer
}

/// The rate of two equal runs taken together.
fn harmonic_mean(rates: [f64; 2]) -> f64 {
    2.0 / (1.0 / rates[0] + 1.0 / rates[1])
}

fn megabytes(bytes: usize) -> f64 {
    bytes as f64 / 1e6
}

fn main() {
    let schema = Schema::parse(DEFAULT_SCHEMA).expect("the default schema parses");
    let mut random = Random::seeded();
    let dataset = Dataset::generate(&mut random);

    let tenantry = measure_build(|| ALLOCATOR.allocated(), || dataset.index());
    let index = &tenantry.value;
    println!(
        "tenantry index: {} relationships, {:.1} MB ({:.1} bytes per relationship), built in {:?}",
        index.len(),
        megabytes(tenantry.bytes),
        tenantry.bytes as f64 / index.len() as f64,
        tenantry.took
    );
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
    let casbin = measure_build(|| ALLOCATOR.allocated(), || runtime.block_on(build_casbin(&dataset)));
    let (enforcer, rows) = casbin.value;
    println!(
        "casbin enforcer: {rows} grouping rows, {:.1} MB ({:.1} bytes per relationship), built in {:?}",
        megabytes(casbin.bytes),
        casbin.bytes as f64 / index.len() as f64,
        casbin.took
    );
    println!(
        "{:<58} ratio of memory = {:.3}",
        "casbin / tenantry",
        casbin.bytes as f64 / tenantry.bytes as f64
    );
    println!();
    let tenant_indexes: Vec<_> = (0..TENANTS).map(|tenant| dataset.tenant_index(tenant)).collect();
    let engines = Engines {
        tenantry: Engine::new(&schema, index, 0),
        tenantry_per_tenant: tenant_indexes.iter().map(|index| Engine::new(&schema, index, 0)).collect(),
        casbin: enforcer,
    };

    engines.compare(
        "direct: the permission of a role held on the workspace itself",
        &dataset.direct_roles(&mut random, 100_000),
        TenantryIndex::PlatformWide,
    );
    let deep = dataset.deepest(&mut random, 20_000, "edit");
    engines.compare(
        "deep inherited: edit, 8 levels down, through 3 nested groups",
        &deep,
        TenantryIndex::PlatformWide,
    );
    engines.compare(
        "deep denied: manage, 8 levels down, same user",
        &dataset.deepest(&mut random, 20_000, "manage"),
        TenantryIndex::PlatformWide,
    );
    let strangers: Vec<Question> =
        deep.iter().map(|question| Question { permission: "view", ..question.asked_by_stranger() }).collect();
    engines.compare(
        "deep denied: view, asked by a user of another tenant",
        &strangers,
        TenantryIndex::PlatformWide,
    );
    // The same questions, tenantry asking the tenant's own index (issue 7):
    // the user of another tenant is not in it, and the check answers no at
    // once, as casbin finds no node for the user in the tenant's domain.
    engines.compare(
        "deep denied: view, another tenant's user, tenant's own index",
        &strangers,
        TenantryIndex::TenantOwn,
    );
}
