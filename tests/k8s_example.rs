//! The Kubernetes example under `examples/k8s/`: valid YAML; an Indexed Job whose pods run,
//! by their completion index, every shard `I/N` of one workload from one start instant,
//! measuring only, with the keys from a Secret; and a merge Job that reads the folder the
//! shards write to, on the same volume. Every `tollgate` command in it, its `$(VAR)`s
//! expanded as the kubelet would for each index, is parsed by tollgate's own parser.

use clap::Parser;
use tollgate::cli::{Cli, Command, Phase, ReportCommand};
use tollgate::load::shard::Shard;
use yaml_rust2::{Yaml, YamlLoader};

/// What `envsubst` puts in for `${START_AT}`.
const START_AT: &str = "2030-01-15T08:00:00Z";

fn load(path: &str) -> Vec<Yaml> {
    let text = std::fs::read_to_string(path).unwrap();
    YamlLoader::load_from_str(&text.replace("${START_AT}", START_AT))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn job(path: &str) -> Yaml {
    let docs = load(path);
    assert_eq!(docs.len(), 1, "{path}: one document");
    let job = docs.into_iter().next().unwrap();
    assert_eq!(job["kind"].as_str(), Some("Job"), "{path}");
    assert_eq!(job["apiVersion"].as_str(), Some("batch/v1"), "{path}");
    job
}

/// The one container's `tollgate` command line for completion index `index`: `$(VAR)`
/// expanded from the container's env (the completion index from the downward API).
fn command(job: &Yaml, index: u32) -> Vec<String> {
    let containers = job["spec"]["template"]["spec"]["containers"]
        .as_vec()
        .unwrap();
    assert_eq!(containers.len(), 1);
    let container = &containers[0];
    let mut vars: Vec<(String, String)> = Vec::new();
    for var in container["env"].as_vec().into_iter().flatten() {
        let name = var["name"].as_str().unwrap().to_string();
        assert!(
            !name.starts_with("OURO"),
            "{name}: keys come from the Secret"
        );
        let value = match var["value"].as_str() {
            Some(value) => value.to_string(),
            None => {
                let field = var["valueFrom"]["fieldRef"]["fieldPath"].as_str().unwrap();
                assert_eq!(
                    field,
                    "metadata.annotations['batch.kubernetes.io/job-completion-index']"
                );
                index.to_string()
            }
        };
        vars.push((name, value));
    }
    let expand = |arg: &str| {
        vars.iter().fold(arg.to_string(), |arg, (name, value)| {
            arg.replace(&format!("$({name})"), value)
        })
    };
    let args = container["args"].as_vec().unwrap();
    let words: Vec<String> = std::iter::once("tollgate".to_string())
        .chain(args.iter().map(|a| expand(a.as_str().unwrap())))
        .collect();
    assert!(
        !words.iter().any(|w| w.contains("$(")),
        "every variable is set: {words:?}"
    );
    words
}

fn claim(job: &Yaml) -> String {
    let volumes = job["spec"]["template"]["spec"]["volumes"].as_vec().unwrap();
    volumes
        .iter()
        .find_map(|v| v["persistentVolumeClaim"]["claimName"].as_str())
        .expect("a shared volume")
        .to_string()
}

#[test]
fn the_kubernetes_example_runs_every_shard_once_and_merges_them() {
    let shards = job("examples/k8s/shards-job.yaml");
    let spec = &shards["spec"];
    assert_eq!(spec["completionMode"].as_str(), Some("Indexed"));
    let count = spec["completions"].as_i64().unwrap() as u32;
    assert_eq!(spec["parallelism"].as_i64(), Some(i64::from(count)));
    // Never retried (a retry misses the instant), and no failure stops the other shards.
    assert_eq!(spec["backoffLimitPerIndex"].as_i64(), Some(0));
    assert_eq!(spec["maxFailedIndexes"].as_i64(), Some(i64::from(count)));
    let container = &spec["template"]["spec"]["containers"][0];
    assert_eq!(
        container["envFrom"][0]["secretRef"]["name"].as_str(),
        Some("tollgate-keys")
    );
    let mut folders = Vec::new();
    for index in 0..count {
        let words = command(&shards, index);
        let cli = Cli::try_parse_from(&words)
            .unwrap_or_else(|e| panic!("`{}` does not parse:\n{e}", words.join(" ")));
        let Command::Run(run) = cli.command else {
            panic!("the shards run `tollgate run`: {words:?}");
        };
        assert_eq!(run.shard, Shard { index, count });
        assert_eq!(run.only, Some(Phase::Perf));
        assert!(run.measure_only && run.allow_load && run.deadline.is_some());
        assert_eq!(
            run.start_at,
            Some(humantime::parse_rfc3339(START_AT).unwrap())
        );
        folders.push(run.report_dir);
    }
    folders.dedup();
    assert_eq!(folders.len(), count as usize, "a folder per shard");

    let merge = job("examples/k8s/merge-job.yaml");
    let words = command(&merge, 0);
    let cli = Cli::try_parse_from(&words)
        .unwrap_or_else(|e| panic!("`{}` does not parse:\n{e}", words.join(" ")));
    let Command::Report(ReportCommand::Merge { inputs, .. }) = cli.command else {
        panic!("the merge runs `tollgate report merge`: {words:?}");
    };
    assert_eq!(inputs.len(), 1);
    for folder in &folders {
        assert_eq!(
            folder.parent(),
            Some(inputs[0].as_path()),
            "the merge reads what the shards wrote"
        );
    }
    assert_eq!(claim(&merge), claim(&shards), "one shared volume");
    let volume = load("examples/k8s/measurements-pvc.yaml");
    assert_eq!(
        volume[0]["metadata"]["name"].as_str(),
        Some(claim(&shards).as_str())
    );
    assert_eq!(
        volume[0]["spec"]["accessModes"][0].as_str(),
        Some("ReadWriteMany")
    );

    let readme = std::fs::read_to_string("README.md").unwrap();
    for file in ["shards-job.yaml", "merge-job.yaml", "measurements-pvc.yaml"] {
        assert!(
            readme.contains(&format!("examples/k8s/{file}")),
            "the README points at {file}"
        );
    }
}
