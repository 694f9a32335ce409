//! Property tests: no input makes the YAML, scenario or profile parsers panic, and every
//! rejection comes with a positioned diagnostic.

mod common;

use std::path::PathBuf;

use common::TempDir;
use proptest::prelude::*;
use serde_json::{Map, Value};

/// `contents` as the one file of a fresh folder; both go when the folder drops.
fn temp_file(contents: &[u8]) -> (TempDir, PathBuf) {
    let dir = TempDir::new("props");
    let path = dir.join("case.yaml");
    std::fs::write(&path, contents).unwrap();
    (dir, path)
}

/// Words the parsers know, so generated trees reach deep into the decoders.
const WORDS: &[&str] = &[
    "name",
    "steps",
    "request",
    "expect",
    "status",
    "method",
    "path",
    "json",
    "headers",
    "query",
    "auth",
    "capture",
    "retry",
    "vars",
    "include",
    "auth_matrix",
    "cases",
    "schema",
    "$ref",
    "error",
    "body",
    "on",
    "max_attempts",
    "exists",
    "equals",
    "matches",
    "present",
    "GET",
    "POST",
    "/v1/users",
    "$.id",
    "{{ id }}",
    "{{",
    "empty",
    "valid",
    "none",
    "base_url",
    "keys",
    "errors",
    "rate_limits",
    "limit",
    "probe",
    "100/s",
    "concurrency",
    "reference",
    "ouro",
    "primary",
    "message",
    "contract",
    "pace",
];

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(WORDS).prop_map(str::to_string),
        "[a-z_$.{}/ ]{0,12}",
    ]
}

fn tree() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        word().prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((word(), inner), 0..6)
                .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

proptest! {
    // 256 cases by default; CI raises PROPTEST_CASES for a longer bounded search.
    #![proptest_config(ProptestConfig::default())]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = tollgate::yaml::parse(&text);
        let (_dir, path) = temp_file(&bytes);
        let loaded = tollgate::scenario::parse::load(&path);
        prop_assert!(loaded.scenario.is_some() || !loaded.diagnostics.is_empty());
        let _ = tollgate::profile::load(&path);
    }

    #[test]
    fn arbitrary_trees_never_panic_and_rejections_have_positions(value in tree()) {
        // JSON is YAML: the flow style exercises the same decoders as block style.
        let (_dir, path) = temp_file(serde_json::to_string(&value).unwrap().as_bytes());
        let loaded = tollgate::scenario::parse::load(&path);
        for diagnostic in &loaded.diagnostics {
            prop_assert!(diagnostic.pos.line >= 1 || diagnostic.message.starts_with("cannot read"), "{diagnostic:?}");
        }
        if let Ok(profile) = tollgate::profile::load(&path) {
            prop_assert!(profile.profile.is_some() || !profile.diagnostics.is_empty());
        }
    }
}

/// A file far larger than any hand-written scenario (a wrong path, a log) is refused by its
/// size, with a positioned diagnostic, before it is read whole.
#[test]
fn a_huge_file_is_refused_before_it_is_read() {
    let (_dir, path) = temp_file(&vec![b'#'; 5 << 20]);
    let loaded = tollgate::scenario::parse::load(&path);
    assert!(loaded.scenario.is_none());
    let message = &loaded.diagnostics[0].message;
    assert!(
        message.contains("more than the 4 MiB such a file may have"),
        "{message}"
    );
    let Err(error) = tollgate::profile::load(&path) else {
        panic!("a huge profile was read");
    };
    assert!(error.contains("more than the 4 MiB"), "{error}");
}
