//! Paging through lookups whose results the index keeps between pages, and
//! the fast negative path of checks.

use std::num::NonZeroUsize;

use tenantry_authz::{Cursor, DEFAULT_SCHEMA, Engine, EvalError, LookupResources, LookupSubjects, Schema};

use crate::default_schema::{World, object, subject_ref};

/// A platform admin and `count` tenants with one root workspace each
/// (`workspace:w000` … in tenant `t000` …) and one member each (`user:u000`
/// …), who sees the tenant's root.
fn platform(count: usize) -> World {
    let mut world = World::new(&["platform:main#admin@user:operator"]);
    for number in 0..count {
        world.add(&format!("tenant:t{number:03}#platform@platform:main"));
        world.add(&format!("workspace:w{number:03}#tenant@tenant:t{number:03}"));
        world.add(&format!("workspace:w{number:03}#root_of@tenant:t{number:03}"));
        world.add(&format!("tenant:t{number:03}#member@user:u{number:03}"));
    }
    world
}

/// One page of `lookup_resources(workspace, view, subject)`.
fn workspaces_page(
    engine: &Engine<'_>,
    subject: &str,
    after: Option<&Cursor>,
    limit: usize,
) -> Result<(Vec<String>, Option<Cursor>), EvalError> {
    let subject = subject_ref(subject);
    let page = engine.lookup_resources(&LookupResources {
        resource_type: "workspace",
        permission: "view",
        subject: &subject,
        after,
        limit: NonZeroUsize::new(limit).unwrap(),
    })?;
    Ok((page.items.iter().map(|object| object.id().to_owned()).collect(), page.next))
}

/// Every page of the lookup in turn, joined.
fn all_pages(engine: &Engine<'_>, subject: &str, limit: usize) -> Vec<String> {
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let (items, next) = workspaces_page(engine, subject, after.as_ref(), limit).unwrap();
        assert!(items.len() <= limit);
        seen.extend(items);
        match next {
            Some(next) => after = Some(next),
            None => return seen,
        }
    }
}

fn ids(prefix: &str, numbers: impl IntoIterator<Item = usize>) -> Vec<String> {
    numbers.into_iter().map(|number| format!("{prefix}{number:03}")).collect()
}

#[test]
fn every_page_size_joins_to_the_full_lookup() {
    let world = platform(37);
    let full = world.resources("user:operator", "view", "workspace");
    assert_eq!(full, ids("w", 0..37));
    for limit in [1, 2, 5, 10, 36, 37, 38, 1_000] {
        let engine = world.engine();
        assert_eq!(all_pages(&engine, "user:operator", limit), full, "pages of {limit}");
        // Asked again, from the kept results, and by another engine.
        assert_eq!(all_pages(&world.engine(), "user:operator", limit), full, "pages of {limit} again");
    }
    // A lookup of one page keeps nothing and still answers.
    assert_eq!(all_pages(&world.engine(), "user:u005", 10), ["w005"]);

    // Subjects page the same way.
    let resource = object("tenant:t000");
    let mut world = world;
    for number in 0..23 {
        world.add(&format!("tenant:t000#member@user:m{number:03}"));
    }
    let engine = world.engine();
    let mut seen = Vec::new();
    let mut after: Option<Cursor> = None;
    loop {
        let page = engine
            .lookup_subjects(&LookupSubjects {
                resource: &resource,
                permission: "view",
                subject_type: "user",
                subject_relation: None,
                after: after.as_ref(),
                limit: NonZeroUsize::new(4).unwrap(),
            })
            .unwrap();
        seen.extend(page.items.iter().map(|subject| subject.object_ref().id().to_owned()));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let mut expected = ids("m", 0..23);
    expected.extend(["operator".to_owned(), "u000".to_owned()]);
    assert_eq!(seen, expected);
}

#[test]
fn kept_results_spend_one_step_a_page_and_refuse_when_the_budget_is_out() {
    let world = platform(30);
    let unbounded = world.engine().with_budget(u64::MAX);
    let (first, next) = workspaces_page(&unbounded, "user:operator", None, 10).unwrap();
    assert_eq!(first, ids("w", 0..10));
    let first_page_steps = u64::MAX - unbounded.remaining_steps();
    assert!(first_page_steps > 30, "the first page walks every tenant: {first_page_steps}");

    // The next page is cut out of the kept results: one step.
    let budgeted = world.engine().with_budget(1);
    let (second, next) = workspaces_page(&budgeted, "user:operator", next.as_ref(), 10).unwrap();
    assert_eq!(second, ids("w", 10..20));
    assert_eq!(budgeted.remaining_steps(), 0);
    assert_eq!(
        workspaces_page(&budgeted, "user:operator", next.as_ref(), 10),
        Err(EvalError::TooComplex { budget: 1 })
    );
    // Without kept results, the same page needs the whole walk again.
    let mut world = world;
    world.index.set_lookup_cache_capacity(0);
    assert_eq!(
        workspaces_page(&world.engine().with_budget(1), "user:operator", next.as_ref(), 10),
        Err(EvalError::TooComplex { budget: 1 })
    );
    let (third, _) = workspaces_page(&world.engine(), "user:operator", next.as_ref(), 10).unwrap();
    assert_eq!(third, ids("w", 20..30));
}

/// What a client sees when the index changes between two pages: the pages
/// stay in ascending id order without duplicates, every object that has the
/// permission throughout appears exactly once, an object that lost it after
/// its page was served is not taken back, and one that gained it appears if
/// its id is after the cursor (a keyset cursor cannot go back).
#[test]
fn resuming_after_the_index_changed_answers_from_the_new_state() {
    let mut world = platform(30);
    let (first, next) = workspaces_page(&world.engine(), "user:operator", None, 10).unwrap();
    assert_eq!(first, ids("w", 0..10));

    // Between pages: w015 and w003 lose their tenant, w100 and w000a appear.
    for gone in ["w015", "w003"] {
        let tenant = gone.replace('w', "t");
        world.remove(&format!("workspace:{gone}#tenant@tenant:{tenant}"));
        world.remove(&format!("workspace:{gone}#root_of@tenant:{tenant}"));
    }
    world.add("workspace:w100#tenant@tenant:t000");
    world.add("workspace:w000a#tenant@tenant:t000");

    let mut seen = first;
    let mut after = next;
    while let Some(cursor) = after {
        let (items, next) = workspaces_page(&world.engine(), "user:operator", Some(&cursor), 10).unwrap();
        seen.extend(items);
        after = next;
    }
    let mut expected = ids("w", (0..30).filter(|&number| number != 15));
    expected.push("w100".to_owned());
    assert_eq!(seen, expected, "w003 was served before it was lost, w000a sorts before the cursor");
    assert!(seen.windows(2).all(|pair| pair[0] < pair[1]), "ascending, no duplicates");
}

#[test]
fn kept_results_are_not_used_once_a_relationship_expires() {
    let mut world = platform(12);
    let expiring: tenantry_authz::Relationship = "workspace:x001#member@user:guest".parse().unwrap();
    world.index.touch(&expiring.expiring_at(world.now + 50)).unwrap();
    world.add("workspace:x002#member@user:guest");
    world.add("workspace:x003#member@user:guest");

    let (first, next) = workspaces_page(&world.engine(), "user:guest", None, 1).unwrap();
    assert_eq!(first, ["x001"]);
    // Still before the expiry: the kept results answer, and they are right.
    world.now += 49;
    let (second, _) = workspaces_page(&world.engine(), "user:guest", next.as_ref(), 1).unwrap();
    assert_eq!(second, ["x002"]);
    // From the expiry on, x001 is gone: a first page asked now must not be
    // served from results computed before.
    world.now += 1;
    assert_eq!(all_pages(&world.engine(), "user:guest", 1), ["x002", "x003"]);
    // And asking about an earlier instant again sees it.
    world.now -= 10;
    assert_eq!(all_pages(&world.engine(), "user:guest", 1), ["x001", "x002", "x003"]);
}

#[test]
fn kept_results_answer_only_under_the_schema_they_were_computed_with() {
    let world = platform(5);
    assert_eq!(all_pages(&world.engine(), "user:operator", 2), ids("w", 0..5));
    // A schema in which the platform grants nothing on tenants.
    let text = DEFAULT_SCHEMA.replace("platform->admin", "admin");
    assert_ne!(text, DEFAULT_SCHEMA);
    let schema = Schema::parse(&text).unwrap();
    let engine = Engine::new(&schema, &world.index, world.now);
    assert_eq!(all_pages(&engine, "user:operator", 2), Vec::<String>::new());
    // The same text parsed again is equal, but keeps its own results.
    assert_eq!(Schema::parse(&text).unwrap(), schema);
}

#[test]
fn any_cursor_text_is_a_position() {
    let world = platform(20);
    let full = world.resources("user:operator", "view", "workspace");
    let engine = world.engine();
    // Fill the kept results, then ask from forged positions.
    assert_eq!(all_pages(&engine, "user:operator", 3), full);
    let cases: [(&str, &[&str]); 6] = [
        ("", &["w000", "w001", "w002"]),
        ("w004", &["w005", "w006", "w007"]),
        ("w004x", &["w005", "w006", "w007"]),
        ("a", &["w000", "w001", "w002"]),
        ("w019", &[]),
        ("\u{10FFFF}", &[]),
    ];
    for (cursor, expected) in cases {
        let (items, next) = workspaces_page(&engine, "user:operator", Some(&Cursor::new(cursor)), 3).unwrap();
        assert_eq!(items, expected, "after {cursor:?}");
        assert_eq!(next.is_none(), expected.is_empty(), "after {cursor:?}");
    }
    // A cursor never reaches another subject's results.
    assert_eq!(all_pages(&engine, "user:u007", 3), ["w007"]);
}

/// A subject that no live relationship allowed by the schema names holds
/// nothing, so a check answers no at the cost of a direct check: one step,
/// and one more for each expired or disallowed relationship passed over.
#[test]
fn subjects_named_by_no_live_relationship_are_refused_without_a_walk() {
    let mut relationships: Vec<String> =
        (1..40).map(|level| format!("workspace:w{level}#parent@workspace:w{}", level - 1)).collect();
    relationships.push("workspace:w0#editor@user:alice".to_owned());
    relationships.push("workspace:w0#tenant@tenant:t".to_owned());
    relationships.push("tenant:t#member@user:bob".to_owned());
    let relationships: Vec<&str> = relationships.iter().map(String::as_str).collect();
    let mut world = World::new(&relationships);
    // Carol is named by expired relationships only, Dave is a resource only
    // (an API key's owner object is a user), Erin is named by a
    // relationship the schema does not allow (a stored one it ignores).
    for level in [0, 5, 39] {
        let expired: tenantry_authz::Relationship =
            format!("workspace:w{level}#editor@user:carol").parse().unwrap();
        world.index.touch(&expired.expiring_at(world.now)).unwrap();
    }
    world.index.touch(&"user:dave#friend@user:alice".parse().unwrap()).unwrap();
    world.index.touch(&"workspace:w3#owner@user:erin".parse().unwrap()).unwrap();

    let deep = object("workspace:w39");
    // A walk to prove Bob's no takes many steps...
    let walk = world.engine().with_budget(u64::MAX);
    assert!(!walk.check(&deep, "edit", &subject_ref("user:bob")).unwrap());
    assert!(u64::MAX - walk.remaining_steps() > 40);
    // ...the fast path one step and one per relationship passed over.
    for (subject, steps) in
        [("user:carol", 1 + 3), ("user:dave", 1), ("user:erin", 1 + 1), ("user:nobody", 0)]
    {
        for permission in ["edit", "view", "manage", "create_child"] {
            let engine = world.engine().with_budget(steps);
            assert_eq!(
                engine.check(&deep, permission, &subject_ref(subject)),
                Ok(false),
                "{subject} {permission}"
            );
            assert_eq!(
                engine.explain(&deep, permission, &subject_ref(subject)).map(|proof| proof.is_none()),
                if steps == 0 { Ok(true) } else { Err(EvalError::TooComplex { budget: steps }) },
                "{subject} {permission}: the budget is spent by the check"
            );
        }
    }
    // Alice, named live, is still answered by the walk.
    assert!(world.can("user:alice", "edit", "workspace:w39"));
}
