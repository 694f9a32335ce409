//! Diagnostics that point at the bad line: file:line:col, the source line, a caret, and a
//! hint where one fits.

use std::fmt::Write as _;

use crate::yaml::Pos;

#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    /// The file as the user named it (relative paths stay relative).
    pub file: String,
    pub pos: Pos,
    pub message: String,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn new(file: &str, pos: Pos, message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.to_string(),
            pos,
            message: message.into(),
            help: None,
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// `file:line:col`, or the file alone when the problem is the file as a whole (it
    /// cannot be read): `:0:0` would point nowhere.
    pub fn location(&self) -> String {
        if self.pos.line == 0 {
            return self.file.clone();
        }
        format!("{}:{}:{}", self.file, self.pos.line, self.pos.col)
    }

    /// Renders like rustc: the message, the location, the line (a window of it around the
    /// caret) with a caret, the help.
    pub fn render(&self, source: &str) -> String {
        let mut out = format!("error: {}\n", self.message);
        let gutter = self.pos.line.to_string().len();
        let pad = " ".repeat(gutter);
        let _ = writeln!(out, "{pad}--> {}", self.location());
        if let Some(line) = source.lines().nth(self.pos.line.saturating_sub(1)) {
            let chars: Vec<char> = line.trim_end().chars().collect();
            let start = self.pos.col.saturating_sub(1).min(chars.len());
            let width = self
                .pos
                .len
                .clamp(1, chars.len().saturating_sub(start).max(1));
            // A window around the caret, never the whole line: a 4 MB one-line file must not
            // become a 4 MB diagnostic.
            let from = start.saturating_sub(WINDOW / 2);
            let to = (start + width.min(WINDOW / 2) + WINDOW / 2).min(chars.len());
            let shown: String = chars[from..to].iter().collect();
            let (before, after) = (
                if from > 0 { "…" } else { "" },
                if to < chars.len() { "…" } else { "" },
            );
            let caret_at = start - from + before.chars().count();
            let width = width.min(to.saturating_sub(start)).max(1);
            let _ = writeln!(out, "{pad} |");
            let _ = writeln!(out, "{} | {before}{shown}{after}", self.pos.line);
            let _ = writeln!(out, "{pad} | {}{}", " ".repeat(caret_at), "^".repeat(width));
        }
        if let Some(help) = &self.help {
            let _ = writeln!(out, "{pad} = help: {help}");
        }
        out
    }
}

/// Characters of a source line shown around the caret.
const WINDOW: usize = 160;

/// The closest candidate within a small edit distance, for "did you mean" hints.
pub fn did_you_mean<'a>(
    given: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (given.chars().count() / 3).clamp(1, 3);
    candidates
        .into_iter()
        .map(|c| {
            (
                edit_distance(&given.to_ascii_lowercase(), &c.to_ascii_lowercase()),
                c,
            )
        })
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Optimal string alignment distance: insertions, deletions, substitutions and swaps of
/// two neighbours each cost one (`emial` is one edit from `email`).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_line_with_a_caret_under_the_token() {
        let source = "steps:\n  - name: a\n    expect: { staus: 201 }\n";
        let diag = Diagnostic::new(
            "s.yaml",
            Pos {
                line: 3,
                col: 15,
                len: 5,
            },
            "unknown key `staus`",
        )
        .with_help("did you mean `status`?");
        assert_eq!(
            diag.render(source),
            "error: unknown key `staus`\n --> s.yaml:3:15\n  |\n3 |     expect: { staus: 201 }\n  \
             |               ^^^^^\n  = help: did you mean `status`?\n"
        );
    }

    #[test]
    fn suggests_only_close_names() {
        let keys = ["status", "headers", "schema", "json"];
        assert_eq!(did_you_mean("staus", keys), Some("status"));
        assert_eq!(did_you_mean("header", keys), Some("headers"));
        assert_eq!(did_you_mean("Schema", keys), Some("schema"));
        assert_eq!(did_you_mean("body_text", keys), None);
        assert_eq!(did_you_mean("emial", ["email", "id"]), Some("email"));
    }

    #[test]
    fn a_huge_line_is_shown_as_a_window_around_the_caret() {
        let line = format!("{}BAD{}", "a".repeat(2_000_000), "b".repeat(2_000_000));
        let d = Diagnostic::new(
            "f.yaml",
            Pos {
                line: 1,
                col: 2_000_001,
                len: 3,
            },
            "bad token",
        );
        let text = d.render(&line);
        assert!(text.len() < 1_000, "{} bytes", text.len());
        assert!(
            text.contains("…aaaa") && text.contains("BADbbb") && text.contains("bbb…"),
            "{text}"
        );
        let caret_line = text.lines().find(|l| l.contains('^')).unwrap();
        let shown_line = text.lines().find(|l| l.contains("BAD")).unwrap();
        let caret = caret_line.chars().position(|c| c == '^');
        let bad = shown_line
            .find("BAD")
            .map(|i| shown_line[..i].chars().count());
        assert_eq!(caret, bad, "{text}");
    }
}
