//! Golden diagnostics: each broken scenario file and the exact message `tollgate lint`
//! prints for it (file:line:col, the line, a caret, a hint).

use std::path::Path;

use tollgate::commands::render_diagnostics;
use tollgate::scenario::parse;

fn diagnostics_of(name: &str) -> String {
    let path = format!("tests/lint/{name}.yaml");
    let loaded = parse::load(Path::new(&path));
    assert!(loaded.scenario.is_none(), "{path} must not load");
    assert!(
        !loaded.diagnostics.is_empty(),
        "{path} must have diagnostics"
    );
    render_diagnostics(&loaded.diagnostics, &loaded.sources)
}

macro_rules! golden {
    ($($name:ident),* $(,)?) => {$(
        #[test]
        fn $name() {
            insta::assert_snapshot!(diagnostics_of(stringify!($name)));
        }
    )*};
}

golden!(
    wrong_type,
    unknown_key,
    missing_status,
    bad_ref,
    bad_syntax,
    duplicate_step,
    bad_jsonpath,
    include_cycle,
    unknown_variable,
    not_utf8,
    unset_env,
    bad_regex,
    bad_predicates,
);
