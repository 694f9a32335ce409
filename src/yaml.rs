//! YAML parsed into a tree where every node remembers its line and column.
//!
//! Profiles and scenarios are decoded from this tree by hand (see [`crate::decode`]) rather
//! than through serde, because a strict format needs a position for *every* diagnostic —
//! unknown keys, wrong types, bad references — and needs all of them at once, not the first.
//! Aliases are expanded with a budget so an alias bomb cannot exhaust memory.

use std::collections::HashMap;
use std::fmt;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A 1-based line and column in a source file, and the width of the token there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
    pub len: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Entries in source order; duplicate keys are reported by the decoder.
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// What a user would call this kind of value, for "expected X, found Y" messages.
    pub fn kind(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The node as JSON (request bodies, expected values). Map keys become strings.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Str(s) => J::String(s.clone()),
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.scalar_text(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// A scalar's text as written (keys of JSON objects, header values).
    pub fn scalar_text(&self) -> String {
        match &self.value {
            Value::Null => "null".into(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Str(s) => s.clone(),
            Value::Seq(_) | Value::Map(_) => String::new(),
        }
    }
}

/// A YAML syntax error with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    pub pos: Pos,
    pub message: String,
}

pub use crate::files::MAX_SOURCE_BYTES;

/// Reads a source file whole: a regular file of at most [`MAX_SOURCE_BYTES`].
impl From<crate::files::NotUtf8> for Pos {
    fn from(at: crate::files::NotUtf8) -> Self {
        Pos {
            line: at.line,
            col: at.col,
            len: 1,
        }
    }
}

pub fn read_source(path: &std::path::Path) -> std::io::Result<String> {
    crate::files::read_bounded(path, MAX_SOURCE_BYTES)
}

/// Most nodes one document may expand to (aliases included).
pub const MAX_NODES: usize = 200_000;
/// Deepest nesting accepted.
pub const MAX_DEPTH: usize = 64;

/// Parses one YAML document. An empty document is `Null` at 1:1.
pub fn parse(source: &str) -> Result<Node, SyntaxError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(source);
    parser.load(&mut builder, false).map_err(|e| SyntaxError {
        pos: pos_of(e.marker(), 1),
        message: e.info().to_string(),
    })?;
    if let Some(error) = builder.error {
        return Err(error);
    }
    Ok(builder.root.unwrap_or(Node {
        value: Value::Null,
        pos: Pos {
            line: 1,
            col: 1,
            len: 1,
        },
    }))
}

fn pos_of(marker: &Marker, len: usize) -> Pos {
    // yaml-rust2 columns are 0-based; lines are 1-based.
    Pos {
        line: marker.line(),
        col: marker.col() + 1,
        len: len.max(1),
    }
}

#[derive(Default)]
struct Builder {
    stack: Vec<Open>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    nodes: usize,
    error: Option<SyntaxError>,
}

/// A collection being built: its node, anchor id, and (for maps) a key waiting for its value.
struct Open {
    node: Node,
    anchor: usize,
    pending_key: Option<Node>,
}

impl Builder {
    fn fail(&mut self, pos: Pos, message: impl Into<String>) {
        if self.error.is_none() {
            self.error = Some(SyntaxError {
                pos,
                message: message.into(),
            });
        }
    }

    fn count(&mut self, n: usize, pos: Pos) -> bool {
        self.nodes += n;
        if self.nodes > MAX_NODES {
            self.fail(
                pos,
                format!("document too large: more than {MAX_NODES} nodes (alias expansion counts)"),
            );
            return false;
        }
        true
    }

    /// Attaches a finished node to its parent (or makes it the root).
    fn attach(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        let Some(parent) = self.stack.last_mut() else {
            self.root = Some(node);
            return;
        };
        match &mut parent.node.value {
            Value::Seq(items) => items.push(node),
            Value::Map(entries) => match parent.pending_key.take() {
                None => parent.pending_key = Some(node),
                Some(key) => entries.push((key, node)),
            },
            _ => unreachable!("only collections are open"),
        }
    }

    fn open(&mut self, value: Value, anchor: usize, pos: Pos) {
        if self.stack.len() >= MAX_DEPTH {
            self.fail(pos, format!("nesting deeper than {MAX_DEPTH} levels"));
            return;
        }
        self.stack.push(Open {
            node: Node { value, pos },
            anchor,
            pending_key: None,
        });
    }

    fn close(&mut self) {
        if let Some(mut open) = self.stack.pop() {
            // A block collection's start event is reported after its first key or item;
            // point at whichever comes first, so "missing key" diagnostics land on the
            // collection's first line.
            let first = match &open.node.value {
                Value::Map(entries) => entries.first().map(|(k, _)| k.pos),
                Value::Seq(items) => items.first().map(|i| i.pos),
                _ => None,
            };
            if let Some(first) = first {
                if (first.line, first.col) < (open.node.pos.line, open.node.pos.col) {
                    open.node.pos = Pos { len: 1, ..first };
                }
            }
            self.attach(open.node, open.anchor);
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, marker: Marker) {
        if self.error.is_some() {
            return;
        }
        match event {
            Event::Scalar(text, style, anchor, _tag) => {
                let pos = pos_of(
                    &marker,
                    text.chars().count() + usize::from(style != TScalarStyle::Plain) * 2,
                );
                if self.count(1, pos) {
                    let value = if style == TScalarStyle::Plain {
                        resolve_plain(&text)
                    } else {
                        Value::Str(text)
                    };
                    self.attach(Node { value, pos }, anchor);
                }
            }
            Event::SequenceStart(anchor, _) => {
                let pos = pos_of(&marker, 1);
                if self.count(1, pos) {
                    self.open(Value::Seq(Vec::new()), anchor, pos);
                }
            }
            Event::MappingStart(anchor, _) => {
                let pos = pos_of(&marker, 1);
                if self.count(1, pos) {
                    self.open(Value::Map(Vec::new()), anchor, pos);
                }
            }
            Event::SequenceEnd | Event::MappingEnd => self.close(),
            Event::Alias(id) => {
                let pos = pos_of(&marker, 1);
                match self.anchors.get(&id).cloned() {
                    Some(mut node) => {
                        // An alias copies its anchor's whole tree here: its depth counts
                        // where it lands, or aliases of aliases nest without bound.
                        if self.stack.len() + depth(&node) > MAX_DEPTH {
                            self.fail(pos, format!("nesting deeper than {MAX_DEPTH} levels"));
                        } else if self.count(size(&node), pos) {
                            node.pos = pos;
                            self.attach(node, 0);
                        }
                    }
                    None => self.fail(pos, "alias to an unknown anchor"),
                }
            }
            _ => {}
        }
    }
}

/// Levels of collections in `node` (a scalar: 0). Anchored nodes were built within the
/// depth budget, so this recursion is bounded by it.
fn depth(node: &Node) -> usize {
    match &node.value {
        Value::Seq(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Map(entries) => {
            1 + entries
                .iter()
                .map(|(k, v)| depth(k).max(depth(v)))
                .max()
                .unwrap_or(0)
        }
        _ => 0,
    }
}

fn size(node: &Node) -> usize {
    1 + match &node.value {
        Value::Seq(items) => items.iter().map(size).sum(),
        Value::Map(entries) => entries.iter().map(|(k, v)| size(k) + size(v)).sum(),
        _ => 0,
    }
}

/// YAML 1.2 core schema resolution of a plain scalar.
fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" => return Value::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    if let Some(hex) = text.strip_prefix("0x") {
        if let Ok(i) = i64::from_str_radix(hex, 16) {
            return Value::Int(i);
        }
    }
    if let Some(oct) = text.strip_prefix("0o") {
        if let Ok(i) = i64::from_str_radix(oct, 8) {
            return Value::Int(i);
        }
    }
    let numeric = text
        .trim_start_matches(['-', '+'])
        .starts_with(|c: char| c.is_ascii_digit() || c == '.');
    if numeric {
        if let Ok(i) = text.parse::<i64>() {
            return Value::Int(i);
        }
        if let Ok(f) = text.parse::<f64>() {
            return Value::Float(f);
        }
    }
    Value::Str(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_know_their_line_and_column() {
        let doc = parse("name: x\nsteps:\n  - status: 201\n    json: { a: \"q\" }\n").unwrap();
        let Value::Map(entries) = &doc.value else {
            panic!()
        };
        assert_eq!(
            entries[0].0.pos,
            Pos {
                line: 1,
                col: 1,
                len: 4
            }
        );
        let Value::Seq(steps) = &entries[1].1.value else {
            panic!()
        };
        let Value::Map(step) = &steps[0].value else {
            panic!()
        };
        assert_eq!(
            step[0].0.pos,
            Pos {
                line: 3,
                col: 5,
                len: 6
            }
        );
        assert_eq!(step[0].1.value, Value::Int(201));
        assert_eq!(step[1].0.pos.line, 4);
        assert_eq!(
            steps[0].to_json(),
            serde_json::json!({ "status": 201, "json": { "a": "q" } })
        );
    }

    #[test]
    fn plain_scalars_resolve_like_yaml_1_2() {
        assert_eq!(resolve_plain("~"), Value::Null);
        assert_eq!(resolve_plain("true"), Value::Bool(true));
        assert_eq!(
            resolve_plain("yes"),
            Value::Str("yes".into()),
            "YAML 1.2: not a boolean"
        );
        assert_eq!(resolve_plain("-12"), Value::Int(-12));
        assert_eq!(resolve_plain("1.5"), Value::Float(1.5));
        assert_eq!(resolve_plain("0x1f"), Value::Int(31));
        assert_eq!(resolve_plain("1.2.3"), Value::Str("1.2.3".into()));
        assert_eq!(resolve_plain("inf"), Value::Str("inf".into()));
    }

    #[test]
    fn syntax_errors_carry_a_position() {
        let err = parse("a: [1, 2\nb: c\n").unwrap_err();
        assert!(err.pos.line >= 1, "{err:?}");
        assert!(!err.message.is_empty());
    }

    #[test]
    fn alias_bombs_and_deep_nesting_are_bounded() {
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let prev = i - 1;
            bomb.push_str(&format!("a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"));
        }
        let err = parse(&bomb).unwrap_err();
        assert!(err.message.contains("too large"), "{err:?}");
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let err = parse(&deep).unwrap_err();
        assert!(err.message.contains("nesting"), "{err:?}");
        // Each anchor nests 40 levels around the last one's alias: 80, 120 … deep.
        let mut chain = format!("a0: &a0 {}x{}\n", "[".repeat(40), "]".repeat(40));
        for i in 1..5 {
            let prev = i - 1;
            chain.push_str(&format!(
                "a{i}: &a{i} {}*a{prev}{}\n",
                "[".repeat(40),
                "]".repeat(40)
            ));
        }
        let err = parse(&chain).unwrap_err();
        assert!(err.message.contains("nesting"), "{err:?}");
    }

    #[test]
    fn aliases_expand_to_copies() {
        let doc = parse("base: &b { q: 1 }\ncopy: *b\n").unwrap();
        let Value::Map(entries) = &doc.value else {
            panic!()
        };
        assert_eq!(entries[1].1.to_json(), serde_json::json!({ "q": 1 }));
    }
}
