//! `junit.xml`: one test suite per scenario, one test case per check, so CI systems show
//! every check with its expected and actual value.

use quick_junit::{NonSuccessKind, Report as Junit, TestCase, TestCaseStatus, TestSuite};

use super::model::Report;
use crate::event::Verdict;

pub fn render(report: &Report) -> String {
    let mut junit = Junit::new(format!("tollgate {}", report.run_id));
    let mut suites: Vec<TestSuite> = Vec::new();
    for step in &report.steps {
        if suites
            .last()
            .is_none_or(|s| s.name.as_str() != step.scenario)
        {
            let existing = suites.iter().position(|s| s.name.as_str() == step.scenario);
            if existing.is_none() {
                suites.push(TestSuite::new(step.scenario.clone()));
            }
        }
        let suite = suites
            .iter_mut()
            .find(|s| s.name.as_str() == step.scenario)
            .expect("created above");
        for check in &step.checks {
            let detail = match (&check.expected, &check.actual) {
                (Some(e), Some(a)) => format!("expected {e}, got {a}"),
                _ => String::new(),
            };
            let message = [detail.as_str(), check.message.as_str()]
                .iter()
                .filter(|s| !s.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(" — ");
            let mut status = match check.verdict {
                Verdict::Passed | Verdict::Warning => TestCaseStatus::success(),
                Verdict::Skipped => TestCaseStatus::skipped(),
                Verdict::Failed => TestCaseStatus::non_success(NonSuccessKind::Failure),
            };
            if check.verdict != Verdict::Passed && !message.is_empty() {
                status.set_message(message.clone());
            }
            if let Some(origin) = &check.origin {
                if check.verdict == Verdict::Failed {
                    status.set_description(format!("{message}\nat {origin}"));
                }
            }
            let mut case = TestCase::new(format!("{} · {}", step.step, check.id), status);
            case.set_classname(format!("{} · {}", step.scenario, step.request));
            if let Some(origin) = &check.origin {
                case.extra.insert("file".into(), origin.file.clone().into());
                if origin.line > 0 {
                    case.extra
                        .insert("line".into(), origin.line.to_string().into());
                }
            }
            suite.add_test_case(case);
        }
    }
    junit.add_test_suites(suites);
    junit.to_string().expect("JUnit XML serializes")
}
