//! API keys as values that cannot be printed by accident.

use std::fmt;
use std::sync::{Arc, RwLock};

/// A key value. `Debug` and `Display` print `[redacted]`; only [`Secret::expose`] gives the
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
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Replaces every known secret in text that is about to leave the process.
///
/// Clones share one list: a secret learnt during the run (a `{{ env.NAME }}` value read by a
/// template) is redacted from then on by every printer and writer holding a clone.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Arc<RwLock<Vec<Secret>>>,
}

impl Redactor {
    pub fn new(secrets: impl IntoIterator<Item = Secret>) -> Self {
        let redactor = Redactor::default();
        for secret in secrets {
            redactor.add(secret);
        }
        redactor
    }

    /// Learns one more secret (empty ones are ignored: they would match everywhere).
    pub fn add(&self, secret: Secret) {
        if secret.0.is_empty() {
            return;
        }
        let mut secrets = self.secrets.write().unwrap_or_else(|e| e.into_inner());
        if !secrets.contains(&secret) {
            secrets.push(secret);
            // Longest first, so a key that contains another is replaced whole.
            secrets.sort_by_key(|s| std::cmp::Reverse(s.0.len()));
        }
    }

    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in self
            .secrets
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            if out.contains(&secret.0) {
                out = out.replace(&secret.0, "[redacted]");
            }
        }
        out
    }

    /// Whether `text` contains any secret.
    pub fn finds_in(&self, text: &str) -> bool {
        self.secrets
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|s| text.contains(&s.0))
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
            "Secret([redacted]) [redacted]"
        );
        let r = Redactor::new([short, long]);
        assert_eq!(
            r.redact("k=abc123-extended, j=abc123"),
            "k=[redacted], j=[redacted]"
        );
        assert!(r.finds_in("xxabc123"));
        assert!(!r.finds_in("abc12"));
        let shared = r.clone();
        shared.add(Secret::new("late-secret"));
        assert_eq!(
            r.redact("x late-secret"),
            "x [redacted]",
            "clones share what they learn"
        );
    }
}
