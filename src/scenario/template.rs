//! `{{ name }}` placeholders in strings and JSON bodies.
//!
//! A JSON string that is exactly one placeholder takes the variable's JSON value (so a
//! captured number stays a number); anywhere else values are interpolated as text.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Var(String),
}

/// Names generated fresh at every use. `env.NAME` reads the environment variable NAME (and
/// makes its value a secret).
pub const UNIQUE: [&str; 3] = ["unique.email", "unique.id", "unique.name"];

impl Template {
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Text(rest[..start].to_string()));
            }
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| "unclosed `{{` (a placeholder ends with `}}`)".to_string())?;
            let name = after[..end].trim();
            let valid = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-');
            if !valid {
                return Err(format!(
                    "`{{{{{}}}}}` is not a variable name",
                    &after[..end]
                ));
            }
            parts.push(Part::Var(name.to_string()));
            rest = &after[end + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Template { parts })
    }

    pub fn literal(text: &str) -> Self {
        Template {
            parts: vec![Part::Text(text.to_string())],
        }
    }

    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(name) => Some(name.as_str()),
            Part::Text(_) => None,
        })
    }

    pub fn render(&self, vars: &Vars) -> Result<String, String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Var(name) => match vars.get(name)? {
                    Value::String(s) => out.push_str(&s),
                    other => out.push_str(&other.to_string()),
                },
            }
        }
        Ok(out)
    }

    /// The template as written, placeholders normalised to `{{ name }}`.
    pub fn source(&self) -> String {
        self.parts
            .iter()
            .map(|p| match p {
                Part::Text(t) => t.clone(),
                Part::Var(v) => format!("{{{{ {v} }}}}"),
            })
            .collect()
    }

    fn single_var(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [Part::Var(name)] => Some(name),
            _ => None,
        }
    }
}

/// Every placeholder in a JSON value's strings, or the first malformed one.
pub fn json_variables(value: &Value) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    walk_strings(value, &mut |s| {
        names.extend(Template::parse(s)?.variables().map(str::to_string));
        Ok(())
    })?;
    Ok(names)
}

fn walk_strings(
    value: &Value,
    f: &mut impl FnMut(&str) -> Result<(), String>,
) -> Result<(), String> {
    match value {
        Value::String(s) => f(s),
        Value::Array(items) => items.iter().try_for_each(|v| walk_strings(v, f)),
        Value::Object(map) => map.iter().try_for_each(|(k, v)| {
            f(k)?;
            walk_strings(v, f)
        }),
        _ => Ok(()),
    }
}

/// Renders every string of a JSON value.
pub fn render_json(value: &Value, vars: &Vars) -> Result<Value, String> {
    Ok(match value {
        Value::String(s) => {
            let template = Template::parse(s)?;
            match template.single_var() {
                Some(name) => vars.get(name)?,
                None => Value::String(template.render(vars)?),
            }
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| render_json(v, vars))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((Template::parse(k)?.render(vars)?, render_json(v, vars)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

/// Variables of one scenario run, plus the generator behind `unique.*`.
#[derive(Debug, Clone)]
pub struct Vars {
    values: HashMap<String, Value>,
    /// String values captured from responses: they differ between runs like `unique.*`.
    captured: Vec<String>,
    unique: UniqueSource,
    /// Learns every `env.*` value read, so it is redacted from every output.
    redactor: Option<crate::secret::Redactor>,
}

/// Fresh values that differ between runs (the run id) and between uses (a counter).
#[derive(Debug, Clone)]
pub struct UniqueSource {
    run_id: String,
    counter: std::sync::Arc<AtomicU64>,
}

impl UniqueSource {
    pub fn new(run_id: &str) -> Self {
        UniqueSource {
            run_id: run_id.to_string(),
            counter: Default::default(),
        }
    }

    fn next(&self, name: &str) -> Option<String> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let id = format!("{}-{n}", self.run_id);
        match name {
            "unique.email" => Some(format!("tollgate+{id}@example.com")),
            "unique.id" => Some(id),
            "unique.name" => Some(format!("tollgate-{id}")),
            _ => None,
        }
    }
}

impl Vars {
    pub fn new(unique: UniqueSource) -> Self {
        Vars {
            values: HashMap::new(),
            captured: Vec::new(),
            unique,
            redactor: None,
        }
    }

    pub fn with_redactor(mut self, redactor: crate::secret::Redactor) -> Self {
        self.redactor = Some(redactor);
        self
    }

    pub fn set(&mut self, name: &str, value: Value) {
        self.values.insert(name.to_string(), value);
    }

    /// Sets a value captured from a response, remembering it as one that changes between
    /// runs.
    pub fn capture(&mut self, name: &str, value: Value) {
        if let Value::String(text) = &value {
            self.captured.push(text.clone());
        }
        self.set(name, value);
    }

    /// What `text` is, if it is a value of this run that a snapshot must not hold: one
    /// made by `unique.*` (it carries the run's id) or one captured from a response.
    pub fn run_value(&self, text: &str) -> Option<&'static str> {
        if !self.unique.run_id.is_empty() && text.contains(&self.unique.run_id) {
            Some("[unique]")
        } else if self.captured.iter().any(|c| c == text) {
            Some("[captured]")
        } else {
            None
        }
    }

    pub fn get(&self, name: &str) -> Result<Value, String> {
        if let Some(value) = self.values.get(name) {
            return Ok(value.clone());
        }
        // Values from the environment are how secrets other than keys get into requests:
        // they are read at use and treated as secrets from then on.
        if let Some(var) = name.strip_prefix("env.") {
            let value = std::env::var(var)
                .map_err(|_| format!("environment variable `{var}` is not set"))?;
            if let Some(redactor) = &self.redactor {
                redactor.add(crate::secret::Secret::new(value.clone()));
            }
            return Ok(Value::String(value));
        }
        self.unique
            .next(name)
            .map(Value::String)
            .ok_or_else(|| format!("variable `{name}` is not defined"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn placeholders_interpolate_and_single_ones_keep_their_type() {
        let mut vars = Vars::new(UniqueSource::new("r1"));
        vars.set("id", json!("usr_7"));
        vars.set("n", json!(3));
        let t = Template::parse("/v1/users/{{ id }}?n={{n}}").unwrap();
        assert_eq!(t.render(&vars).unwrap(), "/v1/users/usr_7?n=3");
        let body =
            render_json(&json!({ "count": "{{ n }}", "label": "n={{ n }}" }), &vars).unwrap();
        assert_eq!(body, json!({ "count": 3, "label": "n=3" }));
    }

    #[test]
    fn unique_values_differ_at_every_use() {
        let vars = Vars::new(UniqueSource::new("r1"));
        let a = vars.get("unique.email").unwrap();
        let b = vars.get("unique.email").unwrap();
        assert_ne!(a, b);
        assert!(a.as_str().unwrap().ends_with("@example.com"));
        assert!(vars.get("nope").unwrap_err().contains("`nope`"));
    }

    #[test]
    fn malformed_placeholders_are_errors() {
        assert!(Template::parse("{{ id").is_err());
        assert!(Template::parse("{{ a b }}").is_err());
        assert!(Template::parse("{{}}").is_err());
        assert_eq!(
            json_variables(&json!({ "a": ["{{ x }}", "{{y}}"] })).unwrap(),
            vec!["x", "y"]
        );
    }
}
