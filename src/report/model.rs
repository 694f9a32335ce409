//! The report model: run metadata and every step result, built from events.

use serde::Serialize;

use crate::event::{Event, PhaseStats, StepResult, Verdict};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub tool_version: String,
    pub run_id: String,
    /// The base URL with any credentials stripped.
    pub target: String,
    /// What the target is, in words (e.g. "embedded reference server, profile ouro").
    pub target_kind: String,
    pub profile: String,
    pub seed: u64,
    pub started: String,
    /// Set when the run ends (interrupted runs too).
    pub ended: String,
    pub duration_ms: u64,
    pub steps: Vec<StepResult>,
    pub phases: Vec<PhaseStats>,
    /// False when the run was stopped before every step finished.
    pub complete: bool,
    /// What stopped an incomplete run.
    pub stopped_by: Option<Stop>,
    /// Which shard of a distributed run wrote this report (0 of 1: one process).
    pub shard: ShardOfRun,
}

/// Which shard of how many produced a report, and the instant all of them started at.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShardOfRun {
    pub index: u32,
    pub total: u32,
    /// `--start-at`, RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_at: Option<String>,
    /// The report of every shard's measurements added up (`report merge`), not of one.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub merged: bool,
}

impl Default for ShardOfRun {
    fn default() -> Self {
        ShardOfRun {
            index: 0,
            total: 1,
            start_at: None,
            merged: false,
        }
    }
}

pub use crate::event::Stop;

/// Check counts by verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub warnings: usize,
}

impl Counts {
    fn add(&mut self, verdict: Verdict) {
        match verdict {
            Verdict::Passed => self.passed += 1,
            Verdict::Failed => self.failed += 1,
            Verdict::Skipped => self.skipped += 1,
            Verdict::Warning => self.warnings += 1,
        }
    }
}

impl Report {
    pub fn apply(&mut self, event: Event) {
        match event {
            Event::StepFinished(step) => self.steps.push(step),
            Event::PhaseFinished(phase) => self.phases.push(*phase),
            Event::Progress(_) => {}
            Event::RunFinished { stopped_by } => {
                self.complete = stopped_by.is_none();
                self.stopped_by = stopped_by;
            }
        }
    }

    /// The same report with every secret the run knows replaced, field by field — before any
    /// format escapes a secret into something a text search would miss.
    pub fn redacted(&self, redactor: &crate::secret::Redactor) -> Report {
        let r = |s: &mut String| *s = redactor.redact(s);
        let mut report = self.clone();
        r(&mut report.target);
        for step in &mut report.steps {
            r(&mut step.scenario);
            r(&mut step.step);
            r(&mut step.request);
            for check in &mut step.checks {
                r(&mut check.message);
                check.expected.iter_mut().for_each(r);
                check.actual.iter_mut().for_each(r);
            }
        }
        report
    }

    pub fn checks(&self) -> Counts {
        let mut counts = Counts::default();
        for check in self.steps.iter().flat_map(|s| &s.checks) {
            counts.add(check.verdict);
        }
        counts
    }

    pub fn steps_by_verdict(&self) -> Counts {
        let mut counts = Counts::default();
        for step in &self.steps {
            counts.add(step.verdict());
        }
        counts
    }

    pub fn passed(&self) -> bool {
        self.checks().failed == 0
    }

    /// The run's one verdict, computed here and only here: every reporter shows this word.
    /// A complete run in which no check passed (all skipped: unset keys, an empty selection)
    /// checked nothing and is not a pass.
    pub fn verdict(&self) -> &'static str {
        let checks = self.checks();
        if !self.complete {
            match self.stopped_by {
                Some(Stop::Deadline) => "deadline",
                _ => "interrupted",
            }
        } else if checks.failed > 0 {
            "failed"
        } else if checks.passed + checks.warnings == 0 {
            "nothing-checked"
        } else {
            "passed"
        }
    }

    /// What the target is, in words, and which shard of a distributed run this report is
    /// (the reporters' headers show this).
    pub fn target_words(&self) -> String {
        let shard = &self.shard;
        if shard.total <= 1 {
            return self.target_kind.clone();
        }
        let from = shard
            .start_at
            .as_deref()
            .map_or(String::new(), |at| format!(" from {at}"));
        if shard.merged {
            return format!("{}, {} shards merged{from}", self.target_kind, shard.total);
        }
        format!(
            "{}, shard {} of {}{from}",
            self.target_kind, shard.index, shard.total
        )
    }

    /// Ids of failed checks, sorted and unique.
    pub fn failed_ids(&self) -> Vec<String> {
        crate::event::ids_with(&self.steps, Verdict::Failed)
    }
}
