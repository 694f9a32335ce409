//! Strict, typed decoding of a [`yaml::Node`] tree that collects every diagnostic.
//!
//! Each accessor returns `None` after recording a diagnostic, so a decoder keeps going and
//! reports all problems of a file at once.

use crate::diagnostic::{did_you_mean, Diagnostic};
use crate::yaml::{Node, Value};

pub struct Decoder {
    pub file: String,
    pub diagnostics: Vec<Diagnostic>,
}

/// The entries of a mapping whose keys were checked against the allowed set.
pub struct Fields<'n> {
    pub node: &'n Node,
    entries: Vec<(&'n str, &'n Node, &'n Node)>,
}

impl<'n> Fields<'n> {
    pub fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, _, v)| *v)
    }

    /// Every entry, in source order: (key, key node, value node).
    pub fn entries(&self) -> impl Iterator<Item = (&'n str, &'n Node, &'n Node)> + '_ {
        self.entries.iter().copied()
    }
}

impl Decoder {
    pub fn new(file: impl Into<String>) -> Self {
        Decoder {
            file: file.into(),
            diagnostics: Vec::new(),
        }
    }

    pub fn error(&mut self, node: &Node, message: impl Into<String>) {
        self.diagnostics
            .push(Diagnostic::new(&self.file, node.pos, message));
    }

    pub fn error_with_help(
        &mut self,
        node: &Node,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.diagnostics
            .push(Diagnostic::new(&self.file, node.pos, message).with_help(help));
    }

    fn wrong_type(&mut self, node: &Node, what: &str, expected: &str) {
        self.error(
            node,
            format!("{what} must be {expected}, found {}", node.kind()),
        );
    }

    /// A mapping whose keys must all be in `allowed` (unknown keys get a did-you-mean) and
    /// must include every key in `required`.
    pub fn fields<'n>(
        &mut self,
        node: &'n Node,
        what: &str,
        allowed: &[&str],
        required: &[&str],
    ) -> Option<Fields<'n>> {
        let Value::Map(raw) = &node.value else {
            self.wrong_type(node, what, "a mapping");
            return None;
        };
        let mut entries: Vec<(&'n str, &'n Node, &'n Node)> = Vec::new();
        // A misspelt required key is reported once, as the misspelling.
        let mut suggested: Vec<&str> = Vec::new();
        for (key, value) in raw {
            let Some(name) = key.as_str() else {
                self.error(
                    key,
                    format!("keys of {what} must be strings, found {}", key.kind()),
                );
                continue;
            };
            if entries.iter().any(|(k, _, _)| *k == name) {
                self.error(key, format!("duplicate key `{name}` in {what}"));
                continue;
            }
            if !allowed.contains(&name) {
                let message = format!("unknown key `{name}` in {what}");
                match did_you_mean(name, allowed.iter().copied()) {
                    Some(s) => {
                        suggested.push(s);
                        self.error_with_help(key, message, format!("did you mean `{s}`?"))
                    }
                    None => self.error_with_help(
                        key,
                        message,
                        format!("expected one of: {}", allowed.join(", ")),
                    ),
                }
                continue;
            }
            entries.push((name, key, value));
        }
        for key in required {
            if !entries.iter().any(|(k, _, _)| k == key) && !suggested.contains(key) {
                self.error(node, format!("{what} is missing the required key `{key}`"));
            }
        }
        Some(Fields { node, entries })
    }

    /// A mapping with free-form string keys (vars, headers, captures).
    pub fn string_map<'n>(
        &mut self,
        node: &'n Node,
        what: &str,
    ) -> Vec<(String, &'n Node, &'n Node)> {
        let Value::Map(raw) = &node.value else {
            self.wrong_type(node, what, "a mapping");
            return Vec::new();
        };
        let mut out: Vec<(String, &'n Node, &'n Node)> = Vec::new();
        for (key, value) in raw {
            let name = match &key.value {
                Value::Str(s) => s.clone(),
                Value::Int(_) | Value::Bool(_) | Value::Float(_) => key.scalar_text(),
                _ => {
                    self.error(
                        key,
                        format!("keys of {what} must be strings, found {}", key.kind()),
                    );
                    continue;
                }
            };
            if out.iter().any(|(k, _, _)| *k == name) {
                self.error(key, format!("duplicate key `{name}` in {what}"));
                continue;
            }
            out.push((name, key, value));
        }
        out
    }

    pub fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        match &node.value {
            Value::Str(s) => Some(s.clone()),
            _ => {
                self.wrong_type(node, what, "a string");
                None
            }
        }
    }

    /// A scalar as text: strings, numbers and booleans (query values, header values).
    pub fn scalar(&mut self, node: &Node, what: &str) -> Option<String> {
        match &node.value {
            Value::Str(_) | Value::Int(_) | Value::Float(_) | Value::Bool(_) => {
                Some(node.scalar_text())
            }
            _ => {
                self.wrong_type(node, what, "a string or a number");
                None
            }
        }
    }

    pub fn uint(&mut self, node: &Node, what: &str) -> Option<u64> {
        match node.value {
            Value::Int(i) if i >= 0 => Some(i as u64),
            Value::Int(i) => {
                self.error(
                    node,
                    format!("{what} must be a non-negative integer, found {i}"),
                );
                None
            }
            _ => {
                self.wrong_type(node, what, "a non-negative integer");
                None
            }
        }
    }

    pub fn boolean(&mut self, node: &Node, what: &str) -> Option<bool> {
        match node.value {
            Value::Bool(b) => Some(b),
            _ => {
                self.wrong_type(node, what, "true or false");
                None
            }
        }
    }

    pub fn list<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n [Node]> {
        match &node.value {
            Value::Seq(items) => Some(items),
            _ => {
                self.wrong_type(node, what, "a list");
                None
            }
        }
    }

    /// One of a fixed set of words, with a did-you-mean.
    pub fn choice<T: Copy>(&mut self, node: &Node, what: &str, choices: &[(&str, T)]) -> Option<T> {
        let text = self.string(node, what)?;
        if let Some((_, value)) = choices.iter().find(|(name, _)| *name == text) {
            return Some(*value);
        }
        let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
        let message = format!("unknown {what} `{text}`");
        match did_you_mean(&text, names.iter().copied()) {
            Some(s) => self.error_with_help(node, message, format!("did you mean `{s}`?")),
            None => self.error_with_help(
                node,
                message,
                format!("expected one of: {}", names.join(", ")),
            ),
        }
        None
    }
}
