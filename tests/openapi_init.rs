//! `tollgate init --from-openapi`: a suite generated from the reference server's own
//! document passes against that server (contract and load), and fails with the check id of
//! each contract fault the document can express; suites generated from public documents
//! nobody here wrote (tests/fixtures/openapi, see its README for their licences) lint
//! clean; documents tollgate cannot read are refused with the reason.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::cli::{self, tollgate};
use common::{faulty_server, TempDir};
use tollgate::contract::{self, Target};
use tollgate::event::{ids_with, StepResult, Verdict};
use tollgate::scenario::{self, parse};
use tollgate::server::{Fault, FaultSet, KeyRing, RunningServer, ServerConfig, ServerProfile};

/// The generated profile reads these variables; the reference server's keys go in them.
const GENERATED_KEY_VARS: [(&str, &str); 5] = [
    ("OURO_API_KEY", "API_KEY"),
    ("OURO_API_KEY_2", "API_KEY_2"),
    ("OURO_TEST_API_KEY", "API_TEST_KEY"),
    ("OURO_API_KEY_READONLY", "API_KEY_READONLY"),
    ("OURO_API_KEY_REVOKED", "API_KEY_REVOKED"),
];

fn shown(output: &std::process::Output) -> String {
    format!("{}{}", cli::text(&output.stdout), cli::text(&output.stderr))
}

/// `tollgate init --from-openapi DOCUMENT` in `dir`; its output.
fn init_from(dir: &Path, document: &Path) -> std::process::Output {
    let document = std::path::absolute(document).unwrap();
    tollgate(&["init", "--from-openapi", document.to_str().unwrap()])
        .current_dir(dir)
        .output()
        .unwrap()
}

/// The reference server's document, written to `dir/openapi.json`.
fn fetch_document(runtime: &tokio::runtime::Runtime, base_url: &str, dir: &Path) {
    let body = runtime.block_on(async {
        reqwest::get(format!("{base_url}/openapi.json"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    std::fs::write(dir.join("openapi.json"), body).unwrap();
}

/// A folder holding the suite generated from the (fault-free) reference server's document.
fn generated_suite() -> TempDir {
    let dir = TempDir::new("openapi-suite");
    let (runtime, server, _) = faulty_server(&[]);
    fetch_document(&runtime, &server.base_url(), dir.path());
    runtime.block_on(server.stop()).unwrap();
    let output = init_from(dir.path(), &dir.path().join("openapi.json"));
    assert_eq!(output.status.code(), Some(0), "{}", shown(&output));
    dir
}

#[test]
fn the_suite_generated_from_the_reference_document_passes_against_its_server() {
    let dir = generated_suite();
    let lint = tollgate(&["lint"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(lint.status.code(), Some(0), "{}", shown(&lint));

    let (_runtime, server, env) = faulty_server(&[]);
    let mut run = tollgate(&[
        "run",
        "--target",
        &server.base_url(),
        "--report-dir",
        "reports",
    ]);
    run.current_dir(dir.path());
    for (ours, generated) in GENERATED_KEY_VARS {
        let value = &env.iter().find(|(var, _)| var == ours).unwrap().1;
        run.env(generated, value);
    }
    let output = run.output().unwrap();
    let text = shown(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    // Every generated part ran: the CRUD chain, the auth matrix and each published class.
    for ran in [
        "users › Get a user (GET /v1/users/{id})",
        "auth matrix › none",
        "rate.write.enforced",
        "rate.files_write.enforced",
        "rate.search.enforced",
    ] {
        assert!(text.contains(ran), "{ran} did not run:\n{text}");
    }
    assert!(text.contains(" 0 failed, 0 skipped"), "{text}");
    // The profile names the document: every answer was also held to it.
    let report = std::fs::read_to_string(dir.path().join("reports/latest/report.json")).unwrap();
    for id in [
        "openapi.status",
        "openapi.content-type",
        "openapi.schema",
        "openapi.headers",
    ] {
        assert!(report.contains(&format!("\"{id}\"")), "no {id} check ran");
    }
}

/// The generated suite's contract phase against a server with `faults`: the ids of the
/// checks that failed.
fn failed_with(dir: &Path, faults: &[Fault]) -> Vec<String> {
    failed_against(dir, ServerProfile::Ouro, faults)
}

fn failed_against(dir: &Path, server_profile: ServerProfile, faults: &[Fault]) -> Vec<String> {
    ids_with(
        &contract_steps(dir, server_profile, faults),
        Verdict::Failed,
    )
}

/// The generated suite's contract phase against a fresh server of `server_profile`.
fn contract_steps(dir: &Path, server_profile: ServerProfile, faults: &[Fault]) -> Vec<StepResult> {
    let loaded = tollgate::profile::load(&dir.join("tollgate.yaml")).unwrap();
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    let profile = loaded.profile.unwrap();
    let scenarios = scenario::discover(&dir.join("scenarios"))
        .unwrap()
        .iter()
        .map(|file| parse::load(file).scenario.unwrap())
        .collect();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let ring = KeyRing::generate();
    let mut config = ServerConfig::new(server_profile, ring.clone());
    config.faults = FaultSet::new(faults.iter().copied());
    let server = runtime.block_on(RunningServer::start(config)).unwrap();
    let target = Target::embedded(&server.base_url(), &ring, profile);
    let steps: Vec<StepResult> = runtime.block_on(contract::collect(
        Arc::new(target),
        scenarios,
        "t".into(),
        1,
    ));
    runtime.block_on(server.stop()).unwrap();
    steps
}

#[test]
fn the_generated_suite_catches_every_contract_fault_its_document_can_express() {
    let dir = generated_suite();
    assert_eq!(failed_with(dir.path(), &[]), Vec::<String>::new());
    // `slow` is the one contract fault left out: an OpenAPI document has no way to state a
    // latency, so the generated steps carry no `max_latency_ms`. The profile names the
    // document, so its `openapi.*` checks judge every answer as well.
    let cases: [(Fault, &[&str]); 6] = [
        // The document promises 201 for a create (and documents no 200 for it): the step,
        // the matrix's valid key in either style, and the document check see the 200.
        (
            Fault::WrongStatus,
            &[
                "auth.alternate.status",
                "auth.valid.status",
                "expect.status",
                "openapi.status",
            ],
        ),
        // Its 403 speaks of revoked keys.
        (Fault::Revoked401, &["auth.revoked.status"]),
        (
            Fault::AuthBypass,
            &["auth.none.status", "auth.query.status"],
        ),
        // Both security schemes are generated; Bearer as the alternate style.
        (Fault::BearerIgnored, &["auth.alternate.status"]),
        // The error schema is the document's Error component, in both checks.
        (Fault::ErrorShape, &["error.shape", "openapi.schema"]),
        // The echoed key is a field Error (`additionalProperties: false`) does not allow.
        (
            Fault::EchoKey,
            &["error.shape", "openapi.schema", "secret.echo"],
        ),
    ];
    let mismatches: Vec<String> = cases
        .iter()
        .filter_map(|(fault, expected)| {
            let failed = failed_with(dir.path(), &[*fault]);
            (failed != *expected).then(|| format!("{fault}: expected {expected:?}, got {failed:?}"))
        })
        .collect();
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// Every profile of the reference server publishes its own document (its auth scheme,
/// its limits, its users); the suite generated from each passes against that server.
#[test]
fn each_server_profile_passes_the_suite_generated_from_its_own_document() {
    for profile in [
        ServerProfile::XApiKey,
        ServerProfile::ApiKey,
        ServerProfile::BearerV1,
    ] {
        let dir = TempDir::new("openapi-profile");
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let config = ServerConfig::new(profile, KeyRing::generate());
        let server = runtime.block_on(RunningServer::start(config)).unwrap();
        fetch_document(&runtime, &server.base_url(), dir.path());
        runtime.block_on(server.stop()).unwrap();
        let output = init_from(dir.path(), &dir.path().join("openapi.json"));
        assert_eq!(
            output.status.code(),
            Some(0),
            "{profile}: {}",
            shown(&output)
        );
        let steps = contract_steps(dir.path(), profile, &[]);
        assert_eq!(
            ids_with(&steps, Verdict::Failed),
            Vec::<String>::new(),
            "{profile}"
        );
        let passed = ids_with(&steps, Verdict::Passed);
        for id in [
            "expect.schema",
            "openapi.schema",
            "auth.none.status",
            "auth.revoked.status",
        ] {
            assert!(
                passed.contains(&id.to_string()),
                "{profile}: no {id} passed"
            );
        }
    }
}

#[test]
fn public_documents_give_suites_that_lint_clean() {
    // (fixture, steps, commented out, auth-matrix entries)
    let cases = [
        ("petstore-expanded-3.0.yaml", 4, 0, 0),
        ("museum-3.1.yaml", 7, 1, 8),
    ];
    for (fixture, steps, commented, matrix) in cases {
        // Inside the folder, so the profile names the document and `lint` compiles it too.
        let dir = TempDir::new("openapi-public");
        let document = dir.path().join(fixture);
        std::fs::copy(Path::new("tests/fixtures/openapi").join(fixture), &document).unwrap();
        let output = init_from(dir.path(), &document);
        let text = shown(&output);
        assert_eq!(output.status.code(), Some(0), "{fixture}: {text}");
        let summary = format!(
            "generated {steps} steps ({commented} commented out) and {matrix} auth-matrix entries"
        );
        assert!(text.contains(&summary), "{fixture}: {text}");
        let lint = tollgate(&["lint"])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert_eq!(lint.status.code(), Some(0), "{fixture}: {}", shown(&lint));
        let files = scenario::discover(&dir.path().join("scenarios")).unwrap();
        assert!(!files.is_empty(), "{fixture}: no scenarios");
        let profile = std::fs::read_to_string(dir.path().join("tollgate.yaml")).unwrap();
        assert!(
            profile.contains(&format!("\nopenapi: {fixture}\n")),
            "{profile}"
        );
    }
}

#[test]
fn what_cannot_be_generated_is_said_not_guessed_silently() {
    let dir = TempDir::new("openapi-museum");
    let output = init_from(
        dir.path(),
        Path::new("tests/fixtures/openapi/museum-3.1.yaml"),
    );
    let stderr = cli::text(&output.stderr);
    assert!(
        stderr.contains("GET /tickets/{ticketId}/qr: commented out: no earlier step creates"),
        "{stderr}"
    );
    let tickets = std::fs::read_to_string(dir.path().join("scenarios/tickets.yaml")).unwrap();
    assert!(
        tickets.contains("# - name: \"Get ticket QR code"),
        "{tickets}"
    );

    let dir = TempDir::new("openapi-petstore");
    let output = init_from(
        dir.path(),
        Path::new("tests/fixtures/openapi/petstore-expanded-3.0.yaml"),
    );
    assert!(
        cli::text(&output.stderr).contains("names no API-key scheme"),
        "{}",
        shown(&output)
    );
    let profile = std::fs::read_to_string(dir.path().join("tollgate.yaml")).unwrap();
    // Its errors are `default` responses of {code, message}: that is the error shape.
    assert!(profile.contains("message: /message"), "{profile}");
    assert!(
        profile.contains("# base_url: https://petstore.swagger.io/v2"),
        "{profile}"
    );
}

#[test]
fn unreadable_documents_are_refused_with_the_reason_and_nothing_is_written() {
    let dir = TempDir::new("openapi-bad");
    let cases = [
        (
            "swagger.yaml",
            "swagger: \"2.0\"\ninfo: {}\n",
            "Swagger 2.0 document",
        ),
        (
            "broken.yaml",
            "openapi: 3.1.0\ninfo: [unclosed\n",
            "broken.yaml:3:1: not valid YAML",
        ),
        (
            "broken.json",
            "{\"openapi\": \"3.1.0\",\n  \"info\": }",
            "broken.json:2:11: not valid JSON",
        ),
        (
            "bad30.json",
            "{\"openapi\": \"3.0.3\", \"info\": {\"title\": \"x\"}, \"paths\": {}}",
            "not a valid OpenAPI 3.0 document",
        ),
    ];
    for (name, content, expected) in cases {
        std::fs::write(dir.path().join(name), content).unwrap();
        let output = init_from(dir.path(), &dir.path().join(name));
        assert_eq!(output.status.code(), Some(2), "{name}: {}", shown(&output));
        let stderr = cli::text(&output.stderr);
        assert!(stderr.contains(expected), "{name}: {stderr}");
        assert!(
            !dir.path().join("tollgate.yaml").exists(),
            "{name}: wrote a profile"
        );
    }
    let missing = init_from(
        dir.path(),
        &dir.path()
            .join("swagger.yaml")
            .with_file_name("nowhere.json"),
    );
    assert_eq!(missing.status.code(), Some(2), "{}", shown(&missing));
}

/// A document written to attack the generator: its text must stay text (no line of it
/// becomes YAML), its schemas must read nothing, and a reference loop is refused.
#[test]
fn a_hostile_document_cannot_reach_out_or_write_the_profile() {
    let dir = TempDir::new("openapi-hostile");
    let document = serde_json::json!({
        "openapi": "3.1.0",
        "info": { "title": "Evil\nbase_url: https://evil.example\n#", "version": "1" },
        "servers": [{ "url": "https://api.example.com\r\nbase_url: https://evil.example" }],
        "security": [{ "key": [] }],
        "paths": {
            "/things": {
                "get": {
                    "summary": "List\u{2028}base_url: https://evil.example",
                    "tags": ["../../escape"],
                    "responses": { "200": {
                        "description": "ok",
                        "content": { "application/json": { "schema": {
                            "$schema": "file:///dev/zero",
                            "type": "object",
                            "properties": { "default": { "$ref": "file:///dev/zero" } },
                        }}},
                    }},
                },
            },
        },
        "components": { "securitySchemes": {
            "key": { "type": "apiKey", "in": "header", "name": "X }\nbase_url: https://evil.example\n#" },
        }},
    });
    let path = dir.path().join("evil.json");
    std::fs::write(&path, document.to_string()).unwrap();
    let output = init_from(dir.path(), &path);
    assert_eq!(output.status.code(), Some(0), "{}", shown(&output));
    for file in ["tollgate.yaml", "scenarios/escape.yaml.todo"] {
        let text = std::fs::read_to_string(dir.path().join(file)).unwrap();
        let live: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("evil.example"))
            .collect();
        assert!(
            live.iter()
                .all(|l| l.trim_start().starts_with('#') || l.contains("name: \"")),
            "{file}: a line of the document became YAML: {live:?}"
        );
    }
    assert!(!dir.path().join("../escape.yaml").exists());
    // Nothing in it could be generated, but the profile is a profile.
    let lint = tollgate(&["lint", "tollgate.yaml"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(lint.status.code(), Some(0), "{}", shown(&lint));

    let looped = serde_json::json!({
        "openapi": "3.1.0", "info": { "title": "t", "version": "1" },
        "paths": { "/a": { "get": { "responses": {
            "200": { "$ref": "#/components/responses/A" },
        }}}},
        "components": { "responses": { "A": { "$ref": "#/components/responses/A" } } },
    });
    let path = dir.path().join("loop.json");
    std::fs::write(&path, looped.to_string()).unwrap();
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    let refused = init_from(&other, &path);
    assert_eq!(refused.status.code(), Some(2), "{}", shown(&refused));
    assert!(
        cli::text(&refused.stderr).contains("circular `$ref`"),
        "{}",
        shown(&refused)
    );
}
