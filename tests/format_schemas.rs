//! The published JSON Schemas of the profile and scenario formats agree with the parser:
//! every shipped file validates, and files the parser rejects for their shape fail too.

use std::path::Path;

use tollgate::scenario::{self, parse::load_schema};

fn as_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap();
    tollgate::yaml::parse(&text).unwrap().to_json()
}

fn problems(schema: &str, file: &Path) -> Vec<String> {
    let validator = load_schema(Path::new(schema)).unwrap();
    let instance = as_json(file);
    validator
        .iter_errors(&instance)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}

#[test]
fn every_shipped_scenario_matches_the_scenario_schema() {
    let mut files = scenario::discover(Path::new("scenarios")).unwrap();
    assert!(files.len() >= 6);
    // What `tollgate init` writes.
    files.extend(scenario::discover(Path::new("templates/init/scenarios")).unwrap());
    for file in files {
        assert_eq!(
            problems("schemas/scenario.schema.json", &file),
            Vec::<String>::new(),
            "{}",
            file.display()
        );
    }
}

#[test]
fn every_shipped_profile_matches_the_profile_schema() {
    for file in [
        "tollgate.yaml",
        "profiles/x-api-key.yaml",
        "profiles/users-v1.yaml",
        "templates/init/tollgate.yaml",
    ] {
        assert_eq!(
            problems("schemas/profile.schema.json", Path::new(file)),
            Vec::<String>::new(),
            "{file}"
        );
    }
}

#[test]
fn shape_errors_the_parser_rejects_are_schema_errors_too() {
    for broken in ["wrong_type", "unknown_key", "missing_status"] {
        let file = format!("tests/lint/{broken}.yaml");
        assert!(
            !problems("schemas/scenario.schema.json", Path::new(&file)).is_empty(),
            "{file} passes the schema"
        );
    }
}
