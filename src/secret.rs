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

    /// Learns one more secret, in every form a target may echo it in (empty ones are
    /// ignored: they would match everywhere).
    pub fn add(&self, secret: Secret) {
        if secret.0.is_empty() {
            return;
        }
        let mut secrets = self.secrets.write().unwrap_or_else(|e| e.into_inner());
        for form in encodings(&secret.0) {
            let form = Secret(form);
            if !secrets.contains(&form) {
                secrets.push(form);
            }
        }
        // Longest first, so a key that contains another is replaced whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.0.len()));
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

/// `secret` as it is, and as a server may echo it back: percent-encoded (either hex case,
/// `+` for a space, as in a query string or a form), base64 (standard and URL-safe, padded
/// or not), and as a JSON string's content (escaped once, or twice when an escaped echo is
/// shown as a JSON value). Forms shorter than four characters are left
/// out: they would match ordinary text.
fn encodings(secret: &str) -> Vec<String> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    use base64::Engine;
    let percent_upper: String = secret
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let percent_lower = percent_upper
        .split('%')
        .enumerate()
        .map(|(i, part)| {
            if i == 0 || part.len() < 2 {
                part.to_string()
            } else {
                format!("{}{}", part[..2].to_ascii_lowercase(), &part[2..])
            }
        })
        .collect::<Vec<_>>()
        .join("%");
    let form: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    let json_content = |s: &str| {
        let quoted = serde_json::to_string(s).unwrap_or_default();
        quoted[1..quoted.len().saturating_sub(1).max(1)].to_string()
    };
    let json = json_content(secret);
    // An echo of the escaped form is escaped again when tollgate shows it as a JSON value.
    let json_twice = json_content(&json);
    let mut forms = vec![
        secret.to_string(),
        percent_upper,
        percent_lower,
        form,
        STANDARD.encode(secret),
        STANDARD_NO_PAD.encode(secret),
        URL_SAFE.encode(secret),
        URL_SAFE_NO_PAD.encode(secret),
        json.replace('/', "\\/"),
        json,
        json_twice,
    ];
    forms.retain(|f| f == secret || f.len() >= 4);
    forms.sort();
    forms.dedup();
    forms
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

    #[test]
    fn every_encoding_of_a_secret_is_found_and_redacted() {
        use base64::Engine;
        let key = "tg key/+&\"é";
        let r = Redactor::new([Secret::new(key)]);
        let b64 = base64::engine::general_purpose::STANDARD;
        let url_safe = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        for echoed in [
            key.to_string(),
            "tg%20key%2F%2B%26%22%C3%A9".to_string(),
            "tg%20key%2f%2b%26%22%c3%a9".to_string(),
            "tg+key%2F%2B%26%22%C3%A9".to_string(),
            b64.encode(key),
            url_safe.encode(key),
            serde_json::to_string(key)
                .unwrap()
                .trim_matches('"')
                .to_string(),
            r#"tg key\/+&\"é"#.to_string(),
        ] {
            let text = format!("echo: {echoed} end");
            assert!(r.finds_in(&text), "{echoed}");
            assert_eq!(r.redact(&text), "echo: [redacted] end", "{echoed}");
        }
    }
}
