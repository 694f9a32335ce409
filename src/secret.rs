//! API keys as values that cannot be printed by accident.

use std::fmt;

/// A key value. `Debug` and `Display` print `<redacted>`; only [`Secret::expose`] gives the
/// value, and it is called where a request header is built.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Replaces every known secret in text that is about to leave the process.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<Secret>,
}

impl Redactor {
    pub fn new(secrets: impl IntoIterator<Item = Secret>) -> Self {
        let mut secrets: Vec<Secret> = secrets.into_iter().filter(|s| !s.0.is_empty()).collect();
        // Longest first, so a key that contains another is replaced whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.0.len()));
        Redactor { secrets }
    }

    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in &self.secrets {
            if out.contains(&secret.0) {
                out = out.replace(&secret.0, "<redacted>");
            }
        }
        out
    }

    /// Whether `text` contains any secret.
    pub fn finds_in(&self, text: &str) -> bool {
        self.secrets.iter().any(|s| text.contains(&s.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_format_and_are_redacted_longest_first() {
        let short = Secret::new("abc123");
        let long = Secret::new("abc123-extended");
        assert_eq!(
            format!("{short:?} {short}"),
            "Secret(<redacted>) <redacted>"
        );
        let r = Redactor::new([short, long]);
        assert_eq!(
            r.redact("k=abc123-extended, j=abc123"),
            "k=<redacted>, j=<redacted>"
        );
        assert!(r.finds_in("xxabc123"));
        assert!(!r.finds_in("abc12"));
    }
}
