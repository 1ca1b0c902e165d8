//! The schema language: errors people can act on, and no input that panics.

use proptest::prelude::*;
use tenantry_authz::{DEFAULT_SCHEMA, MAX_EXPRESSION_NESTING, Position, Schema};

/// `(schema, line, column, message)`: each schema must be refused exactly so.
const REFUSED: &[(&str, u32, u32, &str)] = &[
    (
        "definition user {}\ndefinition doc {\n  relation owner | user\n}",
        3,
        18,
        "expected `:` after relation name `owner`, found `|`",
    ),
    ("doc {}", 1, 1, "expected `definition` to start a type, found `doc`"),
    ("definition {}", 1, 12, "expected a type name after `definition`, found `{`"),
    ("definition doc", 1, 15, "expected `{` after `definition doc`, found the end of the schema"),
    (
        "definition doc {\n  relation relation: doc\n}",
        2,
        12,
        "expected a relation name after `relation`, found the keyword `relation`, which cannot be used as a name",
    ),
    (
        "definition doc {\n  relation a: doc\n  permission p = a b\n}",
        3,
        20,
        "expected an operator (`+`, `&` or `-`) or the end of permission `p`, found `b`",
    ),
    (
        "definition doc { relation a: doc; permission p = ; }",
        1,
        50,
        "expected a relation or permission name, `nil` or `(` in permission `p`, found `;`",
    ),
    (
        "definition doc {\n  relation a: doc\n  permission p = (a + a\n}",
        4,
        1,
        "expected `)` to close the `(` at line 3, column 18, found `}`",
    ),
    (
        "definition doc {\n  relation a: doc#\n}",
        3,
        1,
        "expected a relation or permission name after `doc#`, found `}`",
    ),
    (
        "definition doc {\n  relation a: doc\n  permission p = a->\n}",
        4,
        1,
        "expected a relation or permission name after `a->`, found `}`",
    ),
    (
        "definition doc {\n  permission p = nil\n  relation\n}",
        4,
        1,
        "expected a relation name after `relation`, found `}`",
    ),
    (
        "definition doc { relation a: doc } %",
        1,
        36,
        "unexpected character '%': names use letters, digits and `_`",
    ),
    ("definition doc { /* never closed", 1, 18, "comment `/*` is never closed: add `*/` where it should end"),
    (
        "definition user {}\ndefinition doc {\n  relation viewer: user:*\n}",
        3,
        20,
        "wildcard subject types (`user:*`) are not supported, in relation `viewer`: grant the relation to each subject, or to a group",
    ),
    (
        "definition user {}\ndefinition doc {\n  relation a: user\n  relation b: user\n  permission x = a + b - a\n}",
        5,
        24,
        "mixing `+` and `-` without parentheses is ambiguous, in permission `x`: write `(a + b) - c` or `a + (b - c)`",
    ),
    (
        "definition user {}\ndefinition doc {\n  relation a: user\n  permission x = a & a + a\n}",
        4,
        24,
        "mixing `&` and `+` without parentheses is ambiguous, in permission `x`: write `(a & b) + c` or `a & (b + c)`",
    ),
    // Validation.
    (
        "definition doc {\n  relation owner: usr\n}",
        2,
        19,
        "relation `doc#owner` allows type `usr`, which is not defined",
    ),
    (
        "definition doc {\n  relation a: doc#nope\n}",
        2,
        19,
        "relation `doc#a` allows `doc#nope`, but `doc` defines no relation or permission `nope`",
    ),
    ("definition doc {\n  relation a: doc | doc\n}", 2, 21, "relation `doc#a` lists `doc` twice"),
    (
        "definition user {}\ndefinition user {}",
        2,
        12,
        "type `user` is defined twice; the first definition is at line 1, column 12",
    ),
    (
        "definition user {}\ndefinition doc {\n  relation a: user\n  permission a = a\n}",
        4,
        14,
        "`doc` defines `a` twice; the first is at line 3, column 12 (relations and permissions share one namespace)",
    ),
    (
        "definition user {}\ndefinition doc {\n  relation viewer: user\n  permission view = viewr\n}",
        4,
        21,
        "permission `doc#view` refers to `viewr`, which `doc` does not define",
    ),
    (
        "definition user {}\ndefinition doc {\n  relation viewer: user\n  permission view = edit\n  permission edit = view\n}",
        4,
        14,
        "permission `doc#view` refers to itself on the same object: `view` → `edit` → `view`; give it a base case that does not depend on itself",
    ),
    (
        "definition doc {\n  permission view = view + nil\n}",
        2,
        14,
        "permission `doc#view` refers to itself on the same object: `view` → `view`; give it a base case that does not depend on itself",
    ),
    (
        "definition user {}\ndefinition doc {\n  relation viewer: user\n  permission view = viewer\n  permission x = view->y\n}",
        5,
        18,
        "permission `doc#x` uses `view->y`, but `view` is a permission: the left side of an arrow must be a relation",
    ),
    (
        "definition doc {\n  permission x = parent->view\n}",
        2,
        18,
        "permission `doc#x` uses `parent->view`, but `doc` defines no relation `parent`",
    ),
    (
        "definition user {}\ndefinition doc {\n  relation parent: doc | user\n  permission x = parent->nope\n}",
        4,
        26,
        "permission `doc#x` uses `parent->nope`, but no type that `doc#parent` allows (`doc`, `user`) defines `nope`",
    ),
    (
        "definition user {}\ndefinition group { relation member: user | group#member }\ndefinition doc {\n  relation g: group#member\n  permission x = g->member\n}",
        5,
        18,
        "permission `doc#x` uses `g->member`, but relation `doc#g` allows the subject set `group#member`: the left side of an arrow must be a relation of plain objects",
    ),
    (
        "definition user {}\ndefinition doc {\n  relation parent: doc\n  relation viewer: user\n  permission view = viewer - parent->view\n}",
        5,
        14,
        "permission `doc#view` excludes itself (on the objects an arrow or subject set leads to): an exclusion cannot be part of a recursive definition, because its answer would depend on itself",
    ),
    (
        "definition user {}\ndefinition doc {\n  relation viewer: user | doc#open\n  relation banned: user\n  permission open = banned - viewer\n}",
        5,
        14,
        "permission `doc#open` excludes `doc#viewer`, which depends on `doc#open` in turn (`doc#viewer` → `doc#open`): an exclusion cannot be part of a recursive definition, because its answer would depend on itself",
    ),
];

#[test]
fn refused_schemas_say_where_and_why() {
    for (text, line, column, message) in REFUSED {
        let error = Schema::parse(text).expect_err(text);
        assert_eq!(
            (error.position(), error.message()),
            (Position { line: *line, column: *column }, *message),
            "schema:\n{text}"
        );
        assert_eq!(error.to_string(), format!("line {line}, column {column}: {message}"));
    }
}

#[test]
fn accepted_schemas_include_recursion_across_objects() {
    let accepted = [
        DEFAULT_SCHEMA,
        // Recursion through an arrow, with an exclusion of something else.
        "definition user {}\ndefinition doc {\n  relation parent: doc\n  relation viewer: user\n  relation banned: user\n  permission view = (viewer + parent->view) - banned\n}",
        // Recursion through a subject set of a permission; the exclusion is outside the cycle.
        "definition user {}\ndefinition doc {\n  relation viewer: user | doc#view\n  relation banned: user\n  permission view = viewer + nil\n  permission x = viewer - view\n}",
        // Comments, semicolons, empty definitions, nested parentheses.
        "// c\ndefinition user {} /* block\n comment */\ndefinition doc { relation a: user; relation b: user; permission p = ((a + b) & (a - b)); }",
    ];
    for text in accepted {
        if let Err(error) = Schema::parse(text) {
            panic!("{error}\n{text}");
        }
    }
}

#[test]
fn nesting_is_bounded() {
    let depth = MAX_EXPRESSION_NESTING;
    let nested = |depth: usize| {
        format!(
            "definition doc {{ relation a: doc\n permission p = {}a{} }}",
            "(".repeat(depth),
            ")".repeat(depth)
        )
    };
    assert!(Schema::parse(&nested(depth)).is_ok());
    let error = Schema::parse(&nested(depth + 1)).unwrap_err();
    assert_eq!(
        error.message(),
        format!(
            "permission `p` nests parentheses more than {depth} levels deep: split it into several permissions"
        )
    );
    // Thousands of operands in one operation are flat, not deep.
    let long = format!("definition doc {{ relation a: doc\n permission p = a{} }}", " + a".repeat(20_000));
    assert!(Schema::parse(&long).is_ok());
}

#[test]
fn the_default_schema_prints_in_canonical_form_and_round_trips() {
    let schema = Schema::parse(DEFAULT_SCHEMA).unwrap();
    let printed = schema.to_string();
    assert!(
        printed.contains(
            "definition workspace {\n    relation tenant: tenant\n    relation parent: workspace\n"
        )
    );
    assert!(printed.contains("    permission manage = admin + parent->manage + tenant->manage\n"));
    assert_eq!(Schema::parse(&printed).unwrap(), schema);
    assert_eq!(Schema::parse(&printed).unwrap().to_string(), printed);
    assert_eq!(
        schema.type_names().collect::<Vec<_>>(),
        ["user", "platform", "group", "tenant", "workspace", "api_key"]
    );
}

/// Pieces of schema text, valid and not, to shake the parser with.
const TOKENS: &[&str] = &[
    "definition",
    "relation",
    "permission",
    "nil",
    "user",
    "doc",
    "group",
    "member",
    "viewer",
    "parent",
    "view",
    "{",
    "}",
    "(",
    ")",
    ":",
    "|",
    "#",
    "*",
    "=",
    "+",
    "&",
    "-",
    "->",
    ";",
    "//",
    "/*",
    "*/",
    "\n",
    " ",
    "é",
    "%",
    "\"",
    "0",
    "_",
    "->->",
    "a",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 3_000, ..ProptestConfig::default() })]

    #[test]
    fn no_string_panics(text in any::<String>()) {
        let _ = Schema::parse(&text);
    }

    #[test]
    fn no_token_soup_panics(tokens in prop::collection::vec(prop::sample::select(TOKENS), 0..80)) {
        let text = tokens.join(" ");
        if let Ok(schema) = Schema::parse(&text) {
            // Whatever is accepted prints to text that parses back the same.
            let printed = schema.to_string();
            prop_assert_eq!(Schema::parse(&printed), Ok(schema));
        }
        let squeezed = tokens.concat();
        let _ = Schema::parse(&squeezed);
    }

    #[test]
    fn no_edit_of_the_default_schema_panics(position in 0..DEFAULT_SCHEMA.len(), length in 0..12usize, insert in prop::sample::select(TOKENS)) {
        // Cut a span out (on character boundaries) and put a token in its place.
        let start = (0..=position).rev().find(|&at| DEFAULT_SCHEMA.is_char_boundary(at)).unwrap_or(0);
        let end = (start + length..=DEFAULT_SCHEMA.len()).find(|&at| DEFAULT_SCHEMA.is_char_boundary(at)).unwrap_or(DEFAULT_SCHEMA.len());
        let text = format!("{}{insert}{}", &DEFAULT_SCHEMA[..start], &DEFAULT_SCHEMA[end..]);
        if let Ok(schema) = Schema::parse(&text) {
            prop_assert_eq!(Schema::parse(&schema.to_string()), Ok(schema));
        } else if let Err(error) = Schema::parse(&text) {
            prop_assert!(error.position().line >= 1 && error.position().column >= 1);
        }
    }
}
