//! The engine at one million relationships: index memory, check latency and
//! throughput on one thread, and lookups.
//!
//! Run: `cargo bench -p tenantry-authz --bench engine`
//!
//! The data: 100 tenants, each with 100 users (10k), 10 groups nested three
//! deep (1k), and 100 workspaces in a tree eight levels deep (10k), with
//! tenant, group and workspace memberships filling it up to about a million
//! relationships. Memory is what the index has allocated, counted by a
//! counting global allocator (requested bytes, before the system
//! allocator's own overhead).
//!
//! Latencies are of single calls, timed one by one; throughput is a tight
//! loop over pre-built questions, timed as a whole.

use std::hint::black_box;
use std::time::{Duration, Instant};

use cap::Cap;
use tenantry_authz::{
    DEFAULT_SCHEMA, Engine, Index, LookupResources, LookupSubjects, ObjectRef, Relationship, Schema,
    SubjectRef,
};

#[global_allocator]
static ALLOCATOR: Cap<std::alloc::System> = Cap::new(std::alloc::System, usize::MAX);

const TENANTS: usize = 100;
const USERS_PER_TENANT: usize = 100;
const GROUPS_PER_TENANT: usize = 10;
const WORKSPACES_PER_TENANT: usize = 100;
const DEPTH: usize = 8;
const USERS_PER_GROUP: usize = 30;
const ROLES_PER_WORKSPACE: usize = 94;

/// A small deterministic generator, so every run builds the same data.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }
}

fn user(tenant: usize, number: usize) -> String {
    format!("user:u{}", tenant * USERS_PER_TENANT + number)
}

fn group(tenant: usize, number: usize) -> String {
    format!("group:g{}", tenant * GROUPS_PER_TENANT + number)
}

fn workspace(tenant: usize, number: usize) -> String {
    format!("workspace:w{}", tenant * WORKSPACES_PER_TENANT + number)
}

/// Groups nest three deep: group 0 holds 1 and 2, 1 holds 3..=5, 2 holds 6..=9.
fn group_children(number: usize) -> &'static [usize] {
    match number {
        0 => &[1, 2],
        1 => &[3, 4, 5],
        2 => &[6, 7, 8, 9],
        _ => &[],
    }
}

/// The relationships of one tenant, as text.
fn tenant_relationships(tenant: usize, random: &mut Random, parents: &mut Vec<usize>) -> Vec<String> {
    let mut out = vec![
        format!("tenant:t{tenant}#platform@platform:main"),
        format!("tenant:t{tenant}#admin@{}", user(tenant, 0)),
    ];
    for number in 0..USERS_PER_TENANT {
        out.push(format!("tenant:t{tenant}#member@{}", user(tenant, number)));
    }
    for number in 0..GROUPS_PER_TENANT {
        out.push(format!("{}#tenant@tenant:t{tenant}", group(tenant, number)));
        out.push(format!("{}#admin@{}", group(tenant, number), user(tenant, 0)));
        for &child in group_children(number) {
            out.push(format!("{}#member@{}#member", group(tenant, number), group(tenant, child)));
        }
        // Users 0 and 1 hold no workspace role and are in no group but
        // one: user 1 is a member of group 9 only, the most deeply nested,
        // which makes it the subject of the deep checks.
        let mut members: Vec<usize> = (2..USERS_PER_TENANT).collect();
        for _ in 0..USERS_PER_GROUP.min(members.len()) {
            let pick = members.swap_remove(random.below(members.len()));
            out.push(format!("{}#member@{}", group(tenant, number), user(tenant, pick)));
        }
        if number == 9 {
            out.push(format!("{}#member@{}", group(tenant, number), user(tenant, 1)));
        }
    }
    // Workspace 0 is the root; 1..DEPTH form a spine eight levels deep;
    // every other workspace hangs below a random one that is not yet at the
    // deepest level.
    let mut depth = vec![0usize; WORKSPACES_PER_TENANT];
    parents.clear();
    parents.push(usize::MAX);
    out.push(format!("{}#root_of@tenant:t{tenant}", workspace(tenant, 0)));
    for number in 1..WORKSPACES_PER_TENANT {
        let parent = if number < DEPTH {
            number - 1
        } else {
            loop {
                let candidate = random.below(number);
                if depth[candidate] + 1 < DEPTH {
                    break candidate;
                }
            }
        };
        depth[number] = depth[parent] + 1;
        parents.push(parent);
        out.push(format!("{}#parent@{}", workspace(tenant, number), workspace(tenant, parent)));
    }
    for number in 0..WORKSPACES_PER_TENANT {
        out.push(format!("{}#tenant@tenant:t{tenant}", workspace(tenant, number)));
        let mut users: Vec<usize> = (2..USERS_PER_TENANT).collect();
        for role_number in 0..ROLES_PER_WORKSPACE.min(users.len()) {
            let pick = users.swap_remove(random.below(users.len()));
            let role = match role_number {
                0..2 => "admin",
                2..15 => "editor",
                _ => "member",
            };
            out.push(format!("{}#{role}@{}", workspace(tenant, number), user(tenant, pick)));
        }
        // The deepest group of the nesting edits the root; a random group
        // views every workspace.
        if number == 0 {
            out.push(format!("{}#editor@{}#member", workspace(tenant, 0), group(tenant, 0)));
        }
        out.push(format!(
            "{}#member@{}#member",
            workspace(tenant, number),
            group(tenant, random.below(GROUPS_PER_TENANT))
        ));
    }
    out
}

struct Latencies(Vec<Duration>);

impl Latencies {
    fn percentile(&mut self, fraction: f64) -> Duration {
        self.0.sort_unstable();
        let position = ((self.0.len() as f64 - 1.0) * fraction).round() as usize;
        self.0[position]
    }

    fn report(mut self, label: &str) {
        let p50 = self.percentile(0.50);
        let p99 = self.percentile(0.99);
        let max = self.percentile(1.0);
        println!("{label}: p50 {p50:?}, p99 {p99:?}, max {max:?} ({} samples)", self.0.len());
    }
}

fn time_each<T>(questions: &[T], mut ask: impl FnMut(&T) -> bool) -> (Latencies, usize) {
    let mut latencies = Vec::with_capacity(questions.len());
    let mut allowed = 0;
    for question in questions {
        let start = Instant::now();
        let answer = black_box(ask(black_box(question)));
        latencies.push(start.elapsed());
        allowed += usize::from(answer);
    }
    (Latencies(latencies), allowed)
}

fn throughput<T>(label: &str, questions: &[T], rounds: usize, mut ask: impl FnMut(&T) -> bool) {
    let start = Instant::now();
    let mut allowed = 0usize;
    for _ in 0..rounds {
        for question in questions {
            allowed += usize::from(black_box(ask(black_box(question))));
        }
    }
    let elapsed = start.elapsed();
    let checks = (questions.len() * rounds) as f64;
    println!(
        "{label}: {:.0} checks/s on one thread ({} checks in {elapsed:?}, {allowed} allowed)",
        checks / elapsed.as_secs_f64(),
        questions.len() * rounds
    );
}

fn main() {
    let schema = Schema::parse(DEFAULT_SCHEMA).expect("the default schema parses");
    let mut random = Random(0x9E37_79B9_7F4A_7C15);

    let before = ALLOCATOR.allocated();
    let build_start = Instant::now();
    let mut index = Index::new();
    index.touch(&"platform:main#admin@user:operator".parse().expect("valid")).expect("room");
    let mut parents = Vec::new();
    let mut tree_of_tenant0 = Vec::new();
    for tenant in 0..TENANTS {
        for text in tenant_relationships(tenant, &mut random, &mut parents) {
            let relationship: Relationship = text.parse().expect("valid relationship");
            index.touch(&relationship).expect("room in the index");
        }
        if tenant == 0 {
            tree_of_tenant0 = parents.clone();
        }
    }
    let build_time = build_start.elapsed();
    let bytes = ALLOCATOR.allocated() - before;
    println!(
        "index: {} relationships, {:.1} MB allocated ({:.1} bytes per relationship), built in {build_time:?} ({:.0} touches/s)",
        index.len(),
        bytes as f64 / 1e6,
        bytes as f64 / index.len() as f64,
        index.len() as f64 / build_time.as_secs_f64()
    );

    let start = Instant::now();
    for _ in 0..10_000 {
        black_box(Engine::new(black_box(&schema), black_box(&index), 0));
    }
    println!(
        "Engine::new (binding the schema to the index, once per request or batch): {:?}",
        start.elapsed() / 10_000
    );
    let engine = Engine::new(&schema, &index, 0);

    // Direct checks: a relation of a workspace, half of them held.
    let mut direct = Vec::new();
    for _ in 0..100_000 {
        let tenant = random.below(TENANTS);
        let resource: ObjectRef =
            workspace(tenant, random.below(WORKSPACES_PER_TENANT)).parse().expect("valid");
        let subject: SubjectRef = user(tenant, random.below(USERS_PER_TENANT)).parse().expect("valid");
        direct.push((resource, subject));
    }
    let ask_member = |(resource, subject): &(ObjectRef, SubjectRef)| {
        engine.check(resource, "member", subject).unwrap_or(false)
    };
    throughput("direct check (workspace#member relation)", &direct, 10, ask_member);
    let (latencies, allowed) = time_each(&direct, ask_member);
    latencies.report(&format!("direct check latency ({allowed} of {} allowed)", direct.len()));

    // Permission checks answered by a direct role: `view` for a member of the workspace.
    let direct_members: Vec<(ObjectRef, SubjectRef)> = direct
        .iter()
        .filter(|(resource, subject)| engine.check(resource, "member", subject).unwrap_or(false))
        .cloned()
        .collect();
    let ask_view = |(resource, subject): &(ObjectRef, SubjectRef)| {
        engine.check(resource, "view", subject).unwrap_or(false)
    };
    throughput("permission check held by a direct role (workspace#view)", &direct_members, 10, ask_view);

    // Deep inherited checks: `edit` on a workspace eight levels down, for
    // user 1, whose only way in is group 9, nested in group 2, nested in
    // group 0, which holds `editor` on the root.
    let deepest: Vec<usize> = (0..WORKSPACES_PER_TENANT)
        .filter(|&number| {
            let mut depth = 0;
            let mut node = number;
            while tree_of_tenant0.get(node).is_some_and(|&parent| parent != usize::MAX) {
                node = tree_of_tenant0[node];
                depth += 1;
            }
            depth == DEPTH - 1
        })
        .collect();
    let mut deep = Vec::new();
    for _ in 0..20_000 {
        let tenant = random.below(TENANTS);
        let leaf = deepest[random.below(deepest.len())];
        let resource: ObjectRef = workspace(tenant, leaf).parse().expect("valid");
        deep.push((resource, tenant));
    }
    let deep_questions: Vec<(ObjectRef, SubjectRef)> = deep
        .iter()
        .map(|(resource, tenant)| (resource.clone(), user(*tenant, 1).parse().expect("valid")))
        .collect();
    let ask_edit = |(resource, subject): &(ObjectRef, SubjectRef)| {
        engine.check(resource, "edit", subject).unwrap_or(false)
    };
    let (latencies, allowed) = time_each(&deep_questions, ask_edit);
    latencies.report(&format!(
        "deep inherited check, 8 levels + groups 3 deep, allowed ({allowed} of {} allowed)",
        deep_questions.len()
    ));
    throughput("deep inherited check, allowed", &deep_questions, 1, ask_edit);

    // The worst case for a check: denied, so the whole closure is explored.
    // The subject is a user of another tenant: known to the index (an
    // unknown one is refused at once), holding nothing here.
    let denied: Vec<(ObjectRef, SubjectRef)> = deep
        .iter()
        .map(|(resource, tenant)| {
            let stranger: SubjectRef = user((tenant + 1) % TENANTS, 50).parse().expect("valid");
            (resource.clone(), stranger)
        })
        .collect();
    let (latencies, allowed) =
        time_each(&denied, |(resource, subject)| engine.check(resource, "view", subject).unwrap_or(false));
    latencies.report(&format!(
        "deep check denied (view, the largest closure), full walk ({allowed} of {} allowed)",
        denied.len()
    ));

    // Lookups.
    let lookups: Vec<SubjectRef> = (0..2_000)
        .map(|_| user(random.below(TENANTS), random.below(USERS_PER_TENANT)).parse().expect("valid"))
        .collect();
    let mut found = 0usize;
    let (latencies, _) = time_each(&lookups, |subject| {
        let page = engine
            .lookup_resources(&LookupResources {
                resource_type: "workspace",
                permission: "view",
                subject,
                after: None,
                limit: std::num::NonZeroUsize::new(1_000).expect("non-zero"),
            })
            .expect("valid question");
        found += page.items.len();
        !page.items.is_empty()
    });
    latencies.report(&format!(
        "lookup_resources(workspace, view, user) ({:.1} workspaces per user on average)",
        found as f64 / lookups.len() as f64
    ));
    let mut found = 0usize;
    let leaves: Vec<ObjectRef> = deep.iter().take(2_000).map(|(resource, _)| resource.clone()).collect();
    let (latencies, _) = time_each(&leaves, |resource| {
        let page = engine
            .lookup_subjects(&LookupSubjects {
                resource,
                permission: "view",
                subject_type: "user",
                subject_relation: None,
                after: None,
                limit: std::num::NonZeroUsize::new(1_000).expect("non-zero"),
            })
            .expect("valid question");
        found += page.items.len();
        !page.items.is_empty()
    });
    latencies.report(&format!(
        "lookup_subjects(deepest workspace, view, user) ({:.1} users per workspace on average)",
        found as f64 / leaves.len() as f64
    ));
}
