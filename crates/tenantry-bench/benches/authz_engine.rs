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

use std::hint::black_box;
use std::num::NonZeroUsize;
use std::time::Instant;

use cap::Cap;
use tenantry_authz::{
    DEFAULT_SCHEMA, Engine, LookupResources, LookupSubjects, ObjectRef, Schema, SubjectRef,
};
use tenantry_bench::authz_data::{Dataset, Question, Random};
use tenantry_bench::timing::{Built, measure_build, per_second, report, report_per_second, time_each};

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

/// Times each check on its own, then all of them in a tight loop.
fn measure(engine: &Engine<'_>, name: &str, checks: &[Check], rounds: usize) {
    let ask = |(resource, permission, subject): &Check| {
        engine.check(resource, permission, subject).unwrap_or(false)
    };
    let (samples, allowed) = time_each(checks, ask);
    println!("{name}: {allowed} of {} allowed", checks.len());
    report("  latency", &samples);
    report_per_second("  throughput", checks.len() * rounds, per_second(checks, rounds, ask));
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

    let start = Instant::now();
    for _ in 0..10_000 {
        black_box(Engine::new(black_box(&schema), black_box(&index), 0));
    }
    println!(
        "Engine::new (binding the schema to the index, once per request or batch): {:?}",
        start.elapsed() / 10_000
    );
    let engine = Engine::new(&schema, &index, 0);

    // A relation of a workspace for a random user of its tenant: a binary
    // search when the user is named, a look at the groups when not.
    let pairs = to_checks(&dataset.random_pairs(&mut random, 100_000, "member"));
    measure(&engine, "direct: workspace#member relation, random user of the tenant", &pairs, 10);

    // Permissions answered by a role the user holds on the workspace itself.
    let direct = to_checks(&dataset.direct_roles(&mut random, 100_000));
    measure(&engine, "direct: the permission of a role held on the workspace itself", &direct, 10);

    // `edit` on a workspace eight levels down, for the user whose only way
    // in is three nested groups that hold `editor` on the root.
    let deep_questions = dataset.deepest(&mut random, 20_000, "edit");
    let deep = to_checks(&deep_questions);
    measure(&engine, "deep inherited: edit, 8 levels down, through 3 nested groups", &deep, 1);

    // `manage` for the same user: denied, after walking the ancestors and
    // the tenant's admins.
    let deep_denied = to_checks(&dataset.deepest(&mut random, 20_000, "manage"));
    measure(&engine, "deep denied: manage, 8 levels down, same user", &deep_denied, 1);

    // The worst case for a check: denied, so the whole closure of `view` is
    // explored. The subject is a user of another tenant: known to the index
    // (an unknown one is refused at once), holding nothing here.
    let strangers: Vec<Question> = deep_questions
        .iter()
        .map(|question| Question { permission: "view", ..question.asked_by_stranger() })
        .collect();
    measure(
        &engine,
        "deep denied: view, asked by a user of another tenant (full walk)",
        &to_checks(&strangers),
        1,
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
}
