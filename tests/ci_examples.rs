//! The CI examples under `examples/ci/` are valid YAML, run only commands tollgate's own
//! argument parser accepts, use the commands the README documents, and take keys from CI
//! secrets under the variable names the shipped profile reads.

use clap::Parser;
use tollgate::cli::Cli;
use yaml_rust2::{Yaml, YamlLoader};

fn load(path: &str) -> Yaml {
    let text = std::fs::read_to_string(path).unwrap();
    let mut docs = YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(docs.len(), 1, "{path}: one document");
    docs.remove(0)
}

fn strings(value: &Yaml) -> Vec<String> {
    match value {
        Yaml::String(s) => vec![s.clone()],
        Yaml::Array(items) => items.iter().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}

/// `tollgate …` command lines, with shell quotes and `$VAR`s resolved from `vars`.
fn command_lines(lines: &[String], vars: &Yaml) -> Vec<(String, Vec<String>)> {
    lines
        .iter()
        .flat_map(|block| block.lines().map(str::trim).map(String::from))
        .filter(|line| line.starts_with("tollgate "))
        .map(|line| {
            let words = line
                .split_whitespace()
                .map(|word| {
                    let word = word.trim_matches('"');
                    match word.strip_prefix('$') {
                        Some(var) => vars[var]
                            .as_str()
                            .unwrap_or_else(|| panic!("${var} is not set in the example"))
                            .to_string(),
                        None => word.to_string(),
                    }
                })
                .collect();
            (line, words)
        })
        .collect()
}

/// The step that uploads the reports (there must be one).
fn upload_step(steps: &[Yaml]) -> &Yaml {
    steps
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/upload-artifact"))
        })
        .expect("the reports are uploaded")
}

fn check_commands(path: &str, commands: &[(String, Vec<String>)]) {
    assert!(!commands.is_empty(), "{path} runs no tollgate command");
    let readme = std::fs::read_to_string("README.md").unwrap();
    assert!(readme.contains(path), "the README does not point at {path}");
    for (line, words) in commands {
        if let Err(e) = Cli::try_parse_from(words) {
            panic!("{path}: `{line}` is not a valid tollgate command:\n{e}");
        }
        assert!(
            readme.contains(line.as_str()),
            "{path}: `{line}` is not documented in the README"
        );
    }
}

/// Every key variable set in `env` comes from a CI secret and is one the profile reads.
fn check_key_variables(path: &str, env: &Yaml, from_secret: impl Fn(&str, &str) -> bool) {
    let profile = tollgate::profile::load(std::path::Path::new("tollgate.yaml"))
        .unwrap()
        .profile
        .unwrap();
    let known: Vec<String> = tollgate::keys::KeyRole::ALL
        .into_iter()
        .filter_map(|role| profile.keys.get(role).map(str::to_string))
        .collect();
    let mut seen = 0;
    for (name, value) in env.as_hash().into_iter().flatten() {
        let name = name.as_str().unwrap();
        if name.starts_with("OURO") {
            seen += 1;
            assert!(
                known.iter().any(|k| k == name),
                "{path}: {name} is not a key variable of tollgate.yaml"
            );
            assert!(
                from_secret(name, value.as_str().unwrap_or_default()),
                "{path}: {name} must come from a CI secret"
            );
        }
    }
    assert_eq!(seen, known.len(), "{path}: every key variable is wired");
}

#[test]
fn the_github_actions_example_is_valid_and_documented() {
    let path = "examples/ci/github-actions.yml";
    let workflow = load(path);
    let job = &workflow["jobs"]["tollgate"];
    assert!(job["timeout-minutes"].as_i64().is_some(), "a job timeout");
    let steps = job["steps"].as_vec().unwrap();
    let runs: Vec<String> = steps.iter().flat_map(|s| strings(&s["run"])).collect();
    check_commands(path, &command_lines(&runs, &job["env"]));
    let gate = steps
        .iter()
        .find(|s| {
            strings(&s["run"])
                .iter()
                .any(|r| r.starts_with("tollgate run"))
        })
        .unwrap();
    check_key_variables(path, &gate["env"], |name, value| {
        value == format!("${{{{ secrets.{name} }}}}")
    });
    let upload = upload_step(steps);
    assert_eq!(
        upload["if"].as_str(),
        Some("always()"),
        "even when the gate fails"
    );
}

#[test]
fn the_gitlab_example_is_valid_and_documented() {
    let path = "examples/ci/gitlab-ci.yml";
    let pipeline = load(path);
    let job = &pipeline["tollgate"];
    let script = strings(&job["script"]);
    check_commands(path, &command_lines(&script, &job["variables"]));
    // Keys are masked CI/CD variables, never written in the file.
    let text = std::fs::read_to_string(path).unwrap();
    assert!(
        !text.contains("OURO_API_KEY:"),
        "{path} sets a key in the file"
    );
    assert_eq!(job["artifacts"]["when"].as_str(), Some("always"));
    assert_eq!(
        job["artifacts"]["reports"]["junit"].as_str(),
        Some("reports/*T*Z-*/junit.xml")
    );
}

/// The composite GitHub Action (`action.yml`): inputs reach tollgate only through the
/// `TOLLGATE_*` variables its parser knows (never spliced into a shell line, where an input
/// could inject commands), the reports are uploaded even when the gate fails, and the
/// README documents it.
#[test]
fn the_github_action_passes_inputs_as_known_variables_and_keeps_the_reports() {
    use clap::CommandFactory;
    let action = load("action.yml");
    assert_eq!(action["runs"]["using"].as_str(), Some("composite"));
    let run_args = Cli::command();
    let run = run_args.find_subcommand("run").expect("a run subcommand");
    let known: Vec<String> = run
        .get_arguments()
        .filter_map(|a| a.get_env())
        .map(|e| e.to_string_lossy().into_owned())
        .collect();
    let steps = action["runs"]["steps"].as_vec().expect("steps");
    let mut uses_tollgate = false;
    for step in steps {
        if let Some(script) = step["run"].as_str() {
            assert!(
                !script.contains("${{ inputs."),
                "an input spliced into a shell line: {script}"
            );
            if !script.contains("tollgate run") {
                continue;
            }
            uses_tollgate = true;
        }
        for (name, _) in step["env"].as_hash().into_iter().flatten() {
            let name = name.as_str().unwrap();
            assert!(
                known.iter().any(|k| k == name),
                "{name} is not a variable `tollgate run` reads ({known:?})"
            );
        }
    }
    assert!(uses_tollgate, "the action runs tollgate");
    let upload = upload_step(steps);
    assert_eq!(upload["if"].as_str(), Some("always()"));
    let readme = std::fs::read_to_string("README.md").unwrap();
    assert!(
        readme.contains("action.yml"),
        "the README documents the action"
    );
}

/// The Dockerfile builds with a toolchain no older than Cargo.toml's `rust-version`, copies
/// every folder the build reads, and runs tollgate as a user without privileges. (No
/// container builder is installed here, so it is checked by reading it.)
#[test]
fn the_dockerfile_is_in_step_with_cargo_toml() {
    let dockerfile = std::fs::read_to_string("Dockerfile").unwrap();
    let cargo = std::fs::read_to_string("Cargo.toml").unwrap();
    let rust_version = cargo
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .map(|v| v.trim_matches('"').to_string())
        .expect("Cargo.toml names a rust-version");
    let image = dockerfile
        .lines()
        .find_map(|l| l.strip_prefix("FROM rust:"))
        .expect("a rust build stage");
    let image_version = image.split(['-', ' ']).next().unwrap();
    let parse = |v: &str| -> Vec<u32> { v.split('.').map(|p| p.parse().unwrap()).collect() };
    assert!(
        parse(image_version) >= parse(&rust_version),
        "rust:{image_version} is older than rust-version {rust_version}"
    );
    // Everything compiled in: the sources, and what include_str! pulls from beside them.
    let copied: Vec<&str> = dockerfile
        .lines()
        .filter_map(|l| l.strip_prefix("COPY "))
        .filter(|l| !l.starts_with("--from"))
        .flat_map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words[..words.len() - 1].to_vec()
        })
        .collect();
    for needed in ["Cargo.toml", "Cargo.lock", "src", "schemas"] {
        assert!(
            copied.contains(&needed),
            "the build needs {needed}: {copied:?}"
        );
    }
    for source in &copied {
        assert!(
            std::path::Path::new(source).exists(),
            "COPY of a missing {source}"
        );
    }
    assert!(
        dockerfile.contains("--locked"),
        "the build uses the lockfile"
    );
    let user = dockerfile
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("the runtime image names a user");
    assert_ne!(user.trim(), "root");
    assert!(dockerfile.contains(r#"ENTRYPOINT ["tollgate"]"#));
}

/// The crate is ready to publish: `cargo package --list` warns about nothing, ships the
/// code, the schemas and the shipped suites, and leaves the tests and their stacks home.
#[test]
fn the_package_holds_what_users_need_and_nothing_else() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = std::process::Command::new(cargo)
        .args(["package", "--list", "--allow-dirty", "--offline"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");
    let files = String::from_utf8_lossy(&output.stdout);
    for needed in [
        "src/main.rs",
        "schemas/error.schema.json",
        "tollgate.yaml",
        "scenarios/ouro/users.yaml",
        "LICENSE-MIT",
        "LICENSE-APACHE",
    ] {
        assert!(
            files.lines().any(|f| f == needed),
            "{needed} is not packaged"
        );
    }
    assert!(
        !files.lines().any(|f| f.starts_with("tests/")),
        "tests are not packaged"
    );
}
