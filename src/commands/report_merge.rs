//! `tollgate report merge INPUT…`: finds the shards' `measurements.json` (files, or
//! folders searched a few levels down without following links), merges and judges them
//! (`load::perf::merge`), and writes the usual five reports. A shard that never reported
//! is a runtime error (exit 3) after the reports say which.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use crate::error::{exit, Error};
use crate::event::Event;
use crate::load::perf::measured::{ShardMeasurements, FILE_NAME};
use crate::load::perf::merge::{Merged, Merger, Source};
use crate::load::perf::step_result;
use crate::load::shard::MAX_SHARDS;
use crate::report::model::{Report, ShardOfRun};
use crate::report::terminal::{self, Style};
use crate::secret::Redactor;

/// Largest measurements.json read: an hour of per-millisecond timelines of a few request
/// names.
const MAX_FILE_BYTES: u64 = 512 << 20;
/// How deep under a folder measurements are looked for: `DIR/<shard>/<run>/`.
const SEARCH_DEPTH: usize = 3;

pub fn merge(inputs: &[PathBuf], profile: &Path, report_dir: &Path) -> Result<ExitCode, Error> {
    let profile = super::load_profile(profile)?;
    let mut paths = Vec::new();
    for input in inputs {
        // What was named is followed even as a link (`reports/shard-0/latest`).
        let meta = std::fs::metadata(input)
            .map_err(|e| Error::Usage(format!("cannot read {}: {e}", input.display())))?;
        if meta.is_file() {
            paths.push(input.clone());
        } else {
            find(input, SEARCH_DEPTH, &mut paths)?;
        }
    }
    if paths.is_empty() {
        return Err(Error::Usage(format!(
            "no {FILE_NAME} under {}: run the shards with --measure-only",
            shown(inputs)
        )));
    }
    // One file at a time: the merge holds one file and the sums, never every file.
    let mut merger = Merger::new(&profile);
    for path in &paths {
        merger.add(read(path)?).map_err(Error::Usage)?;
    }
    let merged = merger.finish().map_err(Error::Usage)?;
    let missing = merged.missing.clone();
    let style = Style::for_stream(std::io::IsTerminal::is_terminal(&std::io::stdout()));
    let (mut report, events) = report_of(&profile.file, merged);
    print!("{}", terminal::header(&report));
    for event in events {
        print!("{}", terminal::event(&event, style));
        report.apply(event);
    }
    print!("{}", terminal::summary(&report, style));
    let folder = crate::report::write_all(&report, report_dir, &Redactor::new([]))
        .map_err(Error::Runtime)?;
    crate::report::link_latest(report_dir, &folder);
    if std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true") {
        print!("{}", crate::report::markdown::annotations(&report));
    }
    println!(
        "merged {} shard file(s); reports: {}/",
        paths.len(),
        folder.display()
    );
    if let Some(missing) = missing {
        return Err(Error::Runtime(format!(
            "{missing}; nothing was judged without it (the reports in {} say so)",
            folder.display()
        )));
    }
    let code = if !report.passed() {
        exit::CHECK_FAILED
    } else if report.verdict() == "nothing-checked" {
        exit::NOTHING_CHECKED
    } else {
        exit::PASSED
    };
    Ok(ExitCode::from(code))
}

fn shown(inputs: &[PathBuf]) -> String {
    let names: Vec<String> = inputs.iter().map(|p| p.display().to_string()).collect();
    names.join(", ")
}

/// Every `measurements.json` in the folder `input` and up to `depth` folders down (links
/// are not followed: a `latest` link would count a shard twice).
fn find(input: &Path, depth: usize, found: &mut Vec<PathBuf>) -> Result<(), Error> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(input)
        .map_err(|e| Error::Usage(format!("cannot read {}: {e}", input.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for entry in entries {
        let Ok(meta) = std::fs::symlink_metadata(&entry) else {
            continue;
        };
        if meta.is_file() && entry.file_name().is_some_and(|n| n == FILE_NAME) {
            found.push(entry);
        } else if meta.is_dir() && depth > 0 {
            find(&entry, depth - 1, found)?;
        }
        if found.len() > MAX_SHARDS as usize {
            return Err(Error::Usage(format!(
                "over {MAX_SHARDS} {FILE_NAME} files under {}: point at one run's folders",
                input.display()
            )));
        }
    }
    Ok(())
}

fn read(path: &Path) -> Result<Source, Error> {
    let file: ShardMeasurements =
        crate::files::read_json(path, MAX_FILE_BYTES, "a tollgate measurements file")
            .map_err(Error::Usage)?;
    Ok(Source {
        path: path.display().to_string(),
        file,
    })
}

/// The merged run as a report timed by the start instant, and its phases and steps as the
/// events a run would have sent.
fn report_of(profile: &str, merged: Merged) -> (Report, Vec<Event>) {
    let started = merged
        .start_at
        .as_deref()
        .and_then(|at| humantime::parse_rfc3339(at).ok())
        .unwrap_or_else(SystemTime::now);
    let stamp = |t: SystemTime| humantime::format_rfc3339_seconds(t).to_string();
    let run_id: String = stamp(started)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .chain("-merged".chars())
        .collect();
    let report = Report {
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        run_id,
        target: merged.target.clone(),
        target_kind: "external".into(),
        profile: profile.to_string(),
        seed: 0,
        started: stamp(started),
        ended: stamp(started + merged.duration),
        duration_ms: merged.duration.as_millis() as u64,
        steps: Vec::new(),
        phases: Vec::new(),
        complete: merged.missing.is_none(),
        stopped_by: None,
        shard: ShardOfRun {
            index: 0,
            total: merged.shards,
            start_at: merged.start_at.clone(),
            merged: true,
        },
    };
    let phases = merged
        .phases
        .into_iter()
        .map(|phase| Event::PhaseFinished(Box::new(phase)));
    let steps = merged.steps.into_iter().map(|(workload, step)| {
        Event::StepFinished(step_result(&workload, step.step, step.request, step.checks))
    });
    (report, phases.chain(steps).collect())
}
