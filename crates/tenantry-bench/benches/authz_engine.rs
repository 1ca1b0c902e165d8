//! The engine at one million relationships: index memory, check latency and
//! throughput on one thread, and lookups.
//!
//! Run: `cargo bench -p tenantry-bench --bench authz_engine`
//!
//! The data is `tenantry_bench::authz_data`'s: 100 tenants, 10k users, 1k
//! groups nested three deep, 10k workspaces in trees eight levels deep, about
//! a million relationships. Memory is what the index has allocated, counted
//! by a counting global allocator (requested bytes, before the system
//! allocator's own overhead).
//!
//! Latencies are of single calls, timed one by one; throughput is a tight
//! loop over pre-built questions, timed as a whole. The side-by-side
//! comparison with casbin-rs is `tenantry-bench`'s `authz` benchmark.
//!
//! Two sections compare two ways of answering in one run (issue 7): a user
//! of another tenant asked of the platform-wide index (a walk) and of the
//! tenant's own index, as tenantry-core keeps them (the fast negative
//! path); and the platform operator paging through every workspace with the
//! index keeping no lookup results (every page evaluates the whole lookup,
//! as before) and keeping them (the default).

use std::hint::black_box;
use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use cap::Cap;
use tenantry_authz::{
    Cursor, DEFAULT_SCHEMA, Engine, Index, LookupResources, LookupSubjects, ObjectRef, Relationship, Schema,
    SubjectRef,
};
use tenantry_bench::authz_data::{self, Dataset, Question, Random, TENANTS};
use tenantry_bench::timing::{
    Built, Samples, measure_build, micros, per_second, report, report_per_second, time_each,
};

#[global_allocator]
static ALLOCATOR: Cap<std::alloc::System> = Cap::new(std::alloc::System, usize::MAX);

/// A question in the engine's terms: resource, permission, subject.
type Check = (ObjectRef, &'static str, SubjectRef);

fn to_checks(questions: &[Question]) -> Vec<Check> {
    questions
        .iter()
        .map(|question| {
            let resource = question.resource().parse().expect("valid object");
            let subject = question.subject().parse().expect("valid subject");
            (resource, question.permission, subject)
        })
        .collect()
}

/// Times each question on its own, then all of them in a tight loop.
fn measure<Q>(name: &str, questions: &[Q], rounds: usize, ask: impl Fn(&Q) -> bool) {
    let (samples, allowed) = time_each(questions, &ask);
    println!("{name}: {allowed} of {} allowed", questions.len());
    report("  latency", &samples);
    report_per_second("  throughput", questions.len() * rounds, per_second(questions, rounds, &ask));
}

/// Asks one check of `engine`.
fn ask(engine: &Engine<'_>, (resource, permission, subject): &Check) -> bool {
    engine.check(resource, permission, subject).unwrap_or(false)
}

/// One client paging through a lookup: each page a request of its own,
/// with its own engine. Returns each page's duration and the results.
fn page_through(
    schema: &Schema,
    index: &Index,
    subject: &SubjectRef,
    limit: NonZeroUsize,
) -> (Vec<Duration>, usize) {
    let mut durations = Vec::new();
    let mut found = 0;
    let mut after: Option<Cursor> = None;
    loop {
        let started = Instant::now();
        let engine = Engine::new(schema, index, 0);
        let page = engine
            .lookup_resources(&LookupResources {
                resource_type: "workspace",
                permission: "view",
                subject,
                after: after.as_ref(),
                limit,
            })
            .expect("valid question");
        durations.push(started.elapsed());
        found += black_box(page.items.len());
        match page.next {
            Some(next) => after = Some(next),
            None => return (durations, found),
        }
    }
}

fn main() {
    let schema = Schema::parse(DEFAULT_SCHEMA).expect("the default schema parses");
    let mut random = Random::seeded();
    let dataset = Dataset::generate(&mut random);

    let Built { value: index, bytes, took } = measure_build(|| ALLOCATOR.allocated(), || dataset.index());
    println!(
        "index: {} relationships, {:.1} MB allocated ({:.1} bytes per relationship), built in {took:?} ({:.0} touches/s)",
        index.len(),
        bytes as f64 / 1e6,
        bytes as f64 / index.len() as f64,
        index.len() as f64 / took.as_secs_f64()
    );

    // The first engine over an index binds the schema to its numbers; the
    // index keeps that binding for the engines after it.
    let start = Instant::now();
    black_box(Engine::new(black_box(&schema), black_box(&index), 0));
    let first = start.elapsed();
    let start = Instant::now();
    for _ in 0..10_000 {
        black_box(Engine::new(black_box(&schema), black_box(&index), 0));
    }
    println!(
        "Engine::new (once per request or batch): the first over the index (binding the schema) {first:?}, each later one {:?}",
        start.elapsed() / 10_000
    );
    let engine = Engine::new(&schema, &index, 0);

    // A relation of a workspace for a random user of its tenant: a binary
    // search when the user is named, a look at the groups when not.
    let pairs = to_checks(&dataset.random_pairs(&mut random, 100_000, "member"));
    measure("direct: workspace#member relation, random user of the tenant", &pairs, 10, |check| {
        ask(&engine, check)
    });

    // Permissions answered by a role the user holds on the workspace itself.
    let direct = to_checks(&dataset.direct_roles(&mut random, 100_000));
    measure("direct: the permission of a role held on the workspace itself", &direct, 10, |check| {
        ask(&engine, check)
    });

    // `edit` on a workspace eight levels down, for the user whose only way
    // in is three nested groups that hold `editor` on the root.
    let deep_questions = dataset.deepest(&mut random, 20_000, "edit");
    let deep = to_checks(&deep_questions);
    measure("deep inherited: edit, 8 levels down, through 3 nested groups", &deep, 1, |check| {
        ask(&engine, check)
    });

    // `manage` for the same user: denied, after walking the ancestors and
    // the tenant's admins.
    let deep_denied = to_checks(&dataset.deepest(&mut random, 20_000, "manage"));
    measure("deep denied: manage, 8 levels down, same user", &deep_denied, 1, |check| ask(&engine, check));

    // The worst case for a check: denied, so the whole closure of `view` is
    // explored. The subject is a user of another tenant: known to the index
    // (an unknown one is refused at once), holding nothing here.
    let strangers: Vec<Question> = deep_questions
        .iter()
        .map(|question| Question { permission: "view", ..question.asked_by_stranger() })
        .collect();
    let stranger_checks = to_checks(&strangers);
    measure(
        "deep denied: view, asked by a user of another tenant (full walk)",
        &stranger_checks,
        1,
        |check| ask(&engine, check),
    );

    // Lookups.
    let limit = NonZeroUsize::new(1_000).expect("non-zero");
    let subjects: Vec<SubjectRef> = pairs.iter().take(2_000).map(|(_, _, subject)| subject.clone()).collect();
    let mut found = 0usize;
    let (samples, _) = time_each(&subjects, |subject| {
        let question =
            LookupResources { resource_type: "workspace", permission: "view", subject, after: None, limit };
        let page = engine.lookup_resources(&question).expect("valid question");
        found += page.items.len();
        !page.items.is_empty()
    });
    println!(
        "lookup_resources(workspace, view, user): {:.1} found on average",
        found as f64 / subjects.len() as f64
    );
    report("  latency", &samples);
    let leaves: Vec<ObjectRef> = deep.iter().take(2_000).map(|(resource, _, _)| resource.clone()).collect();
    let mut found = 0usize;
    let (samples, _) = time_each(&leaves, |resource| {
        let question = LookupSubjects {
            resource,
            permission: "view",
            subject_type: "user",
            subject_relation: None,
            after: None,
            limit,
        };
        let page = engine.lookup_subjects(&question).expect("valid question");
        found += page.items.len();
        !page.items.is_empty()
    });
    println!(
        "lookup_subjects(deepest workspace, view, user): {:.1} found on average",
        found as f64 / leaves.len() as f64
    );
    report("  latency", &samples);

    foreign_users(&schema, &dataset, &strangers, &stranger_checks, &engine);
    drop(engine);
    paging(&schema, index);
}

/// A user of another tenant asking about a workspace, the same questions
/// three ways: of the platform-wide index above, where the user holds roles
/// in their own tenant and the check walks the closure to prove the no
/// (what the casbin comparison measured), and of the tenant's own index,
/// as tenantry-core keeps them, where the user is either unknown or named
/// only by expired relationships (a former guest): the fast negative path.
fn foreign_users(
    schema: &Schema,
    dataset: &Dataset,
    strangers: &[Question],
    walks: &[Check],
    engine: &Engine<'_>,
) {
    println!();
    println!("foreign users (issue 7), the same {} questions:", strangers.len());
    let started = Instant::now();
    let tenant_indexes: Vec<Index> = (0..TENANTS)
        .map(|tenant| {
            let mut index = dataset.tenant_index(tenant);
            // `asked_by_stranger`'s user was a guest of this tenant once:
            // a member of it and of its root workspace, both expired.
            let guest = authz_data::user((tenant + 1) % TENANTS, 50);
            for resource in [authz_data::tenant(tenant), authz_data::workspace(tenant, 0)] {
                let relationship: Relationship =
                    format!("{resource}#member@{guest}").parse().expect("valid relationship");
                index.touch(&relationship.expiring_at(0)).expect("room in the index");
            }
            index
        })
        .collect();
    println!("  {TENANTS} tenant indexes built in {:?}", started.elapsed());
    let engines: Vec<Engine<'_>> = tenant_indexes.iter().map(|index| Engine::new(schema, index, 0)).collect();
    let former_guests: Vec<(usize, Check)> =
        strangers.iter().zip(walks).map(|(question, check)| (question.tenant, check.clone())).collect();
    let unknown: Vec<(usize, Check)> = strangers
        .iter()
        .map(|question| {
            let unknown_user = Question { user: 60, ..question.clone() };
            let check = to_checks(std::slice::from_ref(&unknown_user)).remove(0);
            (question.tenant, check)
        })
        .collect();
    // In turn, so that all three see the same machine.
    for _ in 0..2 {
        measure("  before: platform-wide index, the user holds roles elsewhere (walk)", walks, 1, |check| {
            ask(engine, check)
        });
        measure(
            "  after: tenant's index, a former guest (expired relationships only)",
            &former_guests,
            5,
            |(tenant, check)| ask(&engines[*tenant], check),
        );
        measure("  after: tenant's index, a user it has never seen", &unknown, 5, |(tenant, check)| {
            ask(&engines[*tenant], check)
        });
    }
    let direct = to_checks(&dataset.direct_roles(&mut Random::seeded(), 20_000));
    measure("  for scale: a direct role's permission, tenant's index", &direct, 5, |check| {
        let tenant = check.0.id()[1..].parse::<usize>().expect("a workspace number")
            / authz_data::WORKSPACES_PER_TENANT;
        ask(&engines[tenant], check)
    });
}

/// The platform operator's lookup of every workspace (10,000) in pages of
/// 1,000, each page a request of its own. Rounds alternate between an index
/// that keeps no lookup results (every page evaluates the whole lookup: the
/// behaviour before issue 7) and one that keeps them (the default), each
/// round starting with none kept.
fn paging(schema: &Schema, mut index: Index) {
    println!();
    let operator: SubjectRef = "user:operator".parse().expect("valid subject");
    let limit = NonZeroUsize::new(1_000).expect("non-zero");
    let mut before = (Samples::default(), Samples::default(), Samples::default());
    let mut after = (Samples::default(), Samples::default(), Samples::default());
    let mut found = 0;
    for round in 0..16 {
        let keep = round % 2 == 1;
        index.set_lookup_cache_capacity(0);
        if keep {
            index.set_lookup_cache_capacity(8);
        }
        let (durations, results) = page_through(schema, &index, &operator, limit);
        found = results;
        let (total, first, later) = if keep { &mut after } else { &mut before };
        total.push(durations.iter().sum());
        first.push(durations[0]);
        for &duration in &durations[1..] {
            later.push(duration);
        }
    }
    println!(
        "paging (issue 7): lookup_resources(workspace, view, platform operator), {found} found in pages of {limit}, 8 rounds each"
    );
    for (name, (total, first, later)) in
        [("before: no lookup results kept", &before), ("after: results kept (default)", &after)]
    {
        println!("  {name}");
        report("    all pages, total", total);
        report("    first page", first);
        report("    each later page", later);
    }
    println!(
        "  ratio of medians of the totals (before / after) = {:.1}",
        micros(before.0.median()) / micros(after.0.median())
    );
}
