//! The engine's API: explanations, pages, expand, errors, bulk checks and
//! index changes.

use std::num::NonZeroUsize;

use tenantry_authz::{
    Change, CheckRequest, Cursor, Engine, EvalError, ExpansionNode, Index, Link, LookupResources,
    LookupSubjects, ObjectRef, Reason, Relationship, Schema,
};

use crate::default_schema::{World, object, subject_ref};

#[test]
fn explanations_name_the_granting_path() {
    let world = World::new(&[
        "workspace:w1#parent@workspace:w0",
        "workspace:w2#parent@workspace:w1",
        "workspace:w0#editor@group:eng#member",
        "group:eng#member@group:backend#member",
        "group:backend#member@user:alice",
        // A distraction that proves nothing for alice.
        "workspace:w2#member@user:bob",
    ]);
    let explanation =
        world.engine().explain(&object("workspace:w2"), "edit", &subject_ref("user:alice")).unwrap().unwrap();
    let path: Vec<String> =
        explanation.relationships().iter().map(|relationship| relationship.to_string()).collect();
    assert_eq!(
        path,
        [
            "workspace:w2#parent@workspace:w1",
            "workspace:w1#parent@workspace:w0",
            "workspace:w0#editor@group:eng#member",
            "group:eng#member@group:backend#member",
            "group:backend#member@user:alice",
        ]
    );
    assert_eq!(explanation.root().resource(), &object("workspace:w2"));
    assert_eq!(explanation.root().name(), "edit");
    let Reason::Expression { because } = explanation.root().reason() else { panic!("edit is a permission") };
    assert!(matches!(&because[..], [Link::Arrow { .. }]));
    assert_eq!(
        explanation.to_string(),
        "workspace:w2#edit\n  via workspace:w2#parent@workspace:w1\n  workspace:w1#edit\n    via workspace:w1#parent@workspace:w0\n    workspace:w0#edit\n      workspace:w0#editor\n        by workspace:w0#editor@group:eng#member\n        group:eng#member\n          by group:eng#member@group:backend#member\n          group:backend#member\n            by group:backend#member@user:alice\n"
    );
    assert_eq!(
        world.engine().explain(&object("workspace:w2"), "edit", &subject_ref("user:bob")).unwrap(),
        None
    );
}

#[test]
fn explanations_of_intersections_hold_every_operand() {
    let schema = Schema::parse(
        "definition user {}\ndefinition doc {\n  relation a: user\n  relation b: user\n  relation banned: user\n  permission both = (a & b) - banned\n}",
    )
    .unwrap();
    let mut index = Index::new();
    for text in
        ["doc:d#a@user:u", "doc:d#b@user:u", "doc:d#a@user:v", "doc:d#b@user:v", "doc:d#banned@user:v"]
    {
        index.touch(&text.parse().unwrap()).unwrap();
    }
    let engine = Engine::new(&schema, &index, 0);
    let explanation = engine.explain(&object("doc:d"), "both", &subject_ref("user:u")).unwrap().unwrap();
    let path: Vec<String> =
        explanation.relationships().iter().map(|relationship| relationship.to_string()).collect();
    assert_eq!(path, ["doc:d#a@user:u", "doc:d#b@user:u"]);
    assert!(!engine.check(&object("doc:d"), "both", &subject_ref("user:v")).unwrap());
}

#[test]
fn lookups_page_through_everything_once() {
    let mut world = World::new(&["tenant:t#admin@user:ann"]);
    for number in 0..25 {
        world.add(&format!("workspace:w{number:02}#tenant@tenant:t"));
        world.add(&format!("group:g{number:02}#member@user:u{number:02}"));
        world.add(&format!("workspace:w00#member@group:g{number:02}#member"));
    }
    let engine = world.engine();
    let ann = subject_ref("user:ann");
    let mut seen = Vec::new();
    let mut after: Option<Cursor> = None;
    loop {
        let page = engine
            .lookup_resources(&LookupResources {
                resource_type: "workspace",
                permission: "manage",
                subject: &ann,
                after: after.as_ref(),
                limit: NonZeroUsize::new(10).unwrap(),
            })
            .unwrap();
        assert!(page.items.len() <= 10);
        seen.extend(page.items.into_iter().map(|workspace| workspace.id().to_owned()));
        match page.next {
            Some(next) => after = Some(Cursor::new(next.as_str())),
            None => break,
        }
    }
    let expected: Vec<String> = (0..25).map(|number| format!("w{number:02}")).collect();
    assert_eq!(seen, expected);

    let resource = object("workspace:w00");
    fn question<'q>(resource: &'q ObjectRef, after: Option<&'q Cursor>) -> LookupSubjects<'q> {
        LookupSubjects {
            resource,
            permission: "view",
            subject_type: "user",
            subject_relation: None,
            after,
            limit: NonZeroUsize::new(20).unwrap(),
        }
    }
    let first = engine.lookup_subjects(&question(&resource, None)).unwrap();
    assert_eq!(first.items.len(), 20);
    let second = engine.lookup_subjects(&question(&resource, first.next.as_ref())).unwrap();
    assert_eq!(second.next, None);
    let ids: Vec<String> =
        first.items.iter().chain(&second.items).map(|subject| subject.object_ref().id().to_owned()).collect();
    let mut expected: Vec<String> = (0..25).map(|number| format!("u{number:02}")).collect();
    expected.insert(0, "ann".to_owned());
    assert_eq!(ids, expected);

    // Subject sets are looked up by their relation.
    let groups = engine
        .lookup_subjects(&LookupSubjects {
            subject_type: "group",
            subject_relation: Some("member"),
            ..question(&resource, None)
        })
        .unwrap();
    assert_eq!(groups.items.len(), 20);
    assert_eq!(groups.items[0].to_string(), "group:g00#member");
}

#[test]
fn expand_shows_one_object_with_its_leaves() {
    let world = World::new(&[
        "workspace:w#parent@workspace:p",
        "workspace:w#editor@user:eve",
        "workspace:w#editor@group:g#member",
        "workspace:w#tenant@tenant:t",
    ]);
    let expansion = world.engine().expand(&object("workspace:w"), "edit").unwrap();
    assert_eq!(expansion.name, "edit");
    let ExpansionNode::Union(operands) = &expansion.tree else { panic!("{expansion:?}") };
    assert_eq!(
        operands[0],
        ExpansionNode::Relation {
            relation: "editor".to_owned(),
            subjects: vec![subject_ref("group:g#member"), subject_ref("user:eve")],
        }
    );
    assert_eq!(operands[1], ExpansionNode::Permission { permission: "manage".to_owned() });
    assert_eq!(
        operands[2],
        ExpansionNode::Arrow {
            tupleset: "parent".to_owned(),
            name: "edit".to_owned(),
            subjects: vec![subject_ref("workspace:p#edit")],
        }
    );
    let relation = world.engine().expand(&object("workspace:w"), "tenant").unwrap();
    assert_eq!(
        relation.tree,
        ExpansionNode::Relation { relation: "tenant".to_owned(), subjects: vec![subject_ref("tenant:t")] }
    );
}

#[test]
fn questions_naming_undefined_things_are_errors() {
    let world = World::new(&["workspace:w#editor@user:eve"]);
    let engine = world.engine();
    let cases = [
        (("folder:f", "view", "user:eve"), EvalError::UnknownType { object_type: "folder".to_owned() }),
        (
            ("workspace:w", "delete", "user:eve"),
            EvalError::UnknownName { object_type: "workspace".to_owned(), name: "delete".to_owned() },
        ),
        (("workspace:w", "view", "robot:r"), EvalError::UnknownType { object_type: "robot".to_owned() }),
        (
            ("workspace:w", "view", "group:g#owner"),
            EvalError::UnknownName { object_type: "group".to_owned(), name: "owner".to_owned() },
        ),
    ];
    for ((resource, permission, subject), expected) in cases {
        assert_eq!(engine.check(&object(resource), permission, &subject_ref(subject)), Err(expected.clone()));
    }
    assert_eq!(
        engine.check(&object("workspace:w"), "delete", &subject_ref("user:eve")).unwrap_err().to_string(),
        "`workspace` defines no relation or permission `delete`"
    );
    // Unknown objects are not errors: they simply hold nothing.
    assert_eq!(engine.check(&object("workspace:nope"), "view", &subject_ref("user:eve")), Ok(false));
    assert_eq!(engine.check(&object("workspace:w"), "view", &subject_ref("user:nobody")), Ok(false));
}

#[test]
fn bulk_checks_answer_each_question() {
    let world = World::new(&["workspace:w#editor@user:eve"]);
    let requests: Vec<CheckRequest> = [("edit", "user:eve"), ("manage", "user:eve"), ("nope", "user:eve")]
        .into_iter()
        .map(|(permission, subject)| CheckRequest {
            resource: object("workspace:w"),
            permission: permission.to_owned(),
            subject: subject_ref(subject),
        })
        .collect();
    let answers = world.engine().check_bulk(&requests);
    assert_eq!(answers[0], Ok(true));
    assert_eq!(answers[1], Ok(false));
    assert!(answers[2].is_err());
}

#[test]
fn the_index_applies_batches_and_stays_consistent() {
    let mut index = Index::new();
    let relationship = |text: &str| text.parse::<Relationship>().unwrap();
    let changes = [
        Change::Touch(relationship("doc:a#viewer@user:u")),
        Change::Touch(relationship("doc:a#viewer@user:v").expiring_at(10)),
        Change::Touch(relationship("doc:a#viewer@user:u")),
        Change::Delete(relationship("doc:a#viewer@user:w")),
        Change::Touch(relationship("doc:b#viewer@doc:a#viewer")),
    ];
    index.apply(&changes).unwrap();
    assert_eq!(index.len(), 3);
    index.apply(&[Change::Delete(relationship("doc:a#viewer@user:u").expiring_at(99))]).unwrap();
    assert_eq!(index.len(), 2);
    let mut stored: Vec<String> =
        index.relationships().map(|relationship| relationship.to_string()).collect();
    stored.sort();
    assert_eq!(stored, ["doc:a#viewer@user:v", "doc:b#viewer@doc:a#viewer"]);
    assert_eq!(index.remove_expired(10), 1);
    assert_eq!(index.len(), 1);
}

#[test]
fn the_index_can_be_shared_between_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Index>();
    shareable::<Schema>();
    let world = std::sync::Arc::new(std::sync::RwLock::new(World::new(&["workspace:w#editor@user:eve"])));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let world = world.clone();
            std::thread::spawn(move || {
                let world = world.read().unwrap();
                world.can("user:eve", "edit", "workspace:w")
            })
        })
        .collect();
    for reader in readers {
        assert!(reader.join().unwrap());
    }
}

/// The budget counts steps, so what fits and what does not is exact: the
/// steps a question takes unbudgeted are exactly enough, one fewer is
/// `TooComplex` for the question and for every later one, and a bulk check
/// spends one budget across its questions.
#[test]
fn the_evaluation_budget_bounds_every_question_by_steps() {
    let mut relationships: Vec<String> =
        (1..40).map(|level| format!("workspace:w{level}#parent@workspace:w{}", level - 1)).collect();
    relationships.push("workspace:w0#editor@user:alice".to_owned());
    let relationships: Vec<&str> = relationships.iter().map(String::as_str).collect();
    let world = World::new(&relationships);
    let (deep, alice) = (object("workspace:w39"), subject_ref("user:alice"));

    let unbounded = world.engine().with_budget(u64::MAX - 1);
    assert!(unbounded.check(&deep, "edit", &alice).unwrap());
    let needed = u64::MAX - 1 - unbounded.remaining_steps();
    assert!(needed > 40, "a 40-level walk takes a step per level at least: {needed}");

    let exact = world.engine().with_budget(needed);
    assert_eq!(exact.check(&deep, "edit", &alice), Ok(true));
    let short = world.engine().with_budget(needed - 1);
    assert_eq!(short.check(&deep, "edit", &alice), Err(EvalError::TooComplex { budget: needed - 1 }));
    assert_eq!(
        short.check(&object("workspace:w0"), "edit", &alice),
        Err(EvalError::TooComplex { budget: needed - 1 })
    );
    assert!(matches!(
        world.engine().with_budget(needed - 1).explain(&deep, "edit", &alice),
        Err(EvalError::TooComplex { .. })
    ));

    let question =
        CheckRequest { resource: deep.clone(), permission: "edit".to_owned(), subject: alice.clone() };
    let answers = world.engine().with_budget(needed + needed / 2).check_bulk(&[question.clone(), question]);
    assert_eq!(answers[0], Ok(true));
    assert!(matches!(answers[1], Err(EvalError::TooComplex { .. })), "{answers:?}");
}

/// The index keeps the schema's binding to its numbers between engines
/// (`Engine::new` does not rebuild it): a name interned later, and another
/// schema over the same index, must still be seen by the next engine.
#[test]
fn engines_see_names_interned_after_the_binding_was_kept_and_other_schemas() {
    let schema = Schema::parse(
        "definition user {}\ndefinition group {\n  relation member: user\n}\ndefinition doc {\n  relation reader: user | group#member\n  relation owner: user\n  permission read = reader + owner\n}",
    )
    .unwrap();
    let mut index = Index::new();
    index.touch(&"doc:d#reader@user:ann".parse().unwrap()).unwrap();
    let read = |index: &Index, schema: &Schema, who: &str| {
        Engine::new(schema, index, 0).check(&object("doc:d"), "read", &subject_ref(who)).unwrap()
    };
    assert!(read(&index, &schema, "user:ann"));
    assert!(!read(&index, &schema, "user:bob"));
    // `owner` and `group`, `member` were unknown to the index when the first
    // engines were bound.
    index.touch(&"doc:d#owner@user:bob".parse().unwrap()).unwrap();
    index.touch(&"group:g#member@user:cat".parse().unwrap()).unwrap();
    index.touch(&"doc:d#reader@group:g#member".parse().unwrap()).unwrap();
    assert!(read(&index, &schema, "user:bob"));
    assert!(read(&index, &schema, "user:cat"));
    // Another schema over the same index: `owner` no longer reads.
    let strict = Schema::parse(
        "definition user {}\ndefinition group {\n  relation member: user\n}\ndefinition doc {\n  relation reader: user | group#member\n  relation owner: user\n  permission read = reader\n}",
    )
    .unwrap();
    assert!(!read(&index, &strict, "user:bob"));
    assert!(read(&index, &strict, "user:cat"));
    // And back.
    assert!(read(&index, &schema, "user:bob"));
}
