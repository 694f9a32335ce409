//! Live progress of load phases: an indicatif bar on a terminal, nothing otherwise (CI logs
//! get the plain per-phase lines only).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::event::Progress;

pub struct Live {
    bar: Option<ProgressBar>,
    enabled: bool,
}

impl Live {
    /// `enabled` only when stdout is a terminal.
    pub fn new(enabled: bool) -> Self {
        Live { bar: None, enabled }
    }

    pub fn update(&mut self, p: &Progress) {
        if !self.enabled {
            return;
        }
        let bar = self.bar.get_or_insert_with(|| {
            let bar = ProgressBar::with_draw_target(Some(p.total), ProgressDrawTarget::stdout());
            let style =
                ProgressStyle::with_template("{spinner} {msg:<44} [{bar:30}] {pos}/{len} sent")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> ");
            bar.set_style(style);
            bar
        });
        bar.set_length(p.total);
        bar.set_position(p.done);
        bar.set_message(format!(
            "{} · {}: {} accepted, {} × 429",
            p.class, p.phase, p.accepted, p.limited
        ));
    }

    /// Prints `text` above the bar (or plainly when there is none), via `print`.
    pub fn print(&mut self, text: &str, print: impl FnOnce(&str)) {
        match self.bar.take() {
            Some(bar) => {
                bar.finish_and_clear();
                print(text);
            }
            None => print(text),
        }
    }
}
