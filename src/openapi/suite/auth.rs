//! Which of the document's security schemes the generated profile presents keys with.

use super::super::model::{Api, Operation, Scheme};

/// Which of the document's schemes the profile uses: `primary` as `auth`, `alternates`
/// as `alternate_auth` (each accepted alone by every operation that accepts `primary`).
#[derive(Default)]
pub(super) struct ProfileAuth {
    pub(super) primary: Option<String>,
    pub(super) alternates: Vec<String>,
    /// Comment lines for the profile: the schemes left out and why.
    pub(super) notes: Vec<String>,
}

pub(super) fn choose_auth(api: &Api, warnings: &mut Vec<String>) -> ProfileAuth {
    let secured: Vec<&Operation> = api.operations.iter().filter(|op| op.secured()).collect();
    let mut used: Vec<&str> = Vec::new();
    for op in &secured {
        for alternative in &op.security {
            if alternative.len() > 1 {
                warnings.push(format!(
                    "{} asks for {} together; tollgate presents one key per request",
                    op.label(),
                    alternative.join(" + ")
                ));
            }
            for name in alternative {
                if !used.contains(&name.as_str()) {
                    used.push(name);
                }
            }
        }
    }
    let mut auth = ProfileAuth::default();
    let usable: Vec<&str> = used
        .iter()
        .copied()
        .filter(|name| {
            matches!(
                api.scheme(name).map(|s| &s.scheme),
                Some(Scheme::Header { .. })
            )
        })
        .collect();
    let accepted_by = |name: &str| secured.iter().filter(|op| op.accepts(name)).count();
    // The scheme most operations accept alone; the first written on a tie.
    let mut primary: Option<&str> = None;
    for name in &usable {
        if primary.is_none_or(|p| accepted_by(name) > accepted_by(p)) {
            primary = Some(name);
        }
    }
    for name in &used {
        let reason = match api.scheme(name).map(|s| &s.scheme) {
            Some(Scheme::Header { .. }) => None,
            Some(Scheme::Query { param }) => Some(format!(
                "`{name}` (the key in the query parameter `{param}`) is left out: tollgate sends \
                 keys in headers only, as a key in a URL ends up in logs and proxies"
            )),
            Some(Scheme::Unsupported { kind }) => Some(format!(
                "`{name}` ({kind}) is not an API key tollgate can send: left out"
            )),
            None => Some(format!("`{name}` is used but never defined: left out")),
        };
        if let Some(reason) = reason {
            warnings.push(format!("security scheme {reason}"));
            auth.notes.push(reason);
        }
    }
    let Some(primary) = primary else {
        warnings.push(
            "the document names no API-key scheme tollgate can send; `auth` is a guess".into(),
        );
        return auth;
    };
    let with_primary: Vec<&&Operation> = secured.iter().filter(|op| op.accepts(primary)).collect();
    for name in usable.iter().filter(|n| **n != primary) {
        if with_primary.iter().all(|op| op.accepts(name)) {
            auth.alternates.push(name.to_string());
        } else {
            auth.notes.push(format!(
                "`{name}` is left out of alternate_auth: not every operation accepts it"
            ));
        }
    }
    if let Some(Scheme::Header {
        scheme: Some(s), ..
    }) = api.scheme(primary).map(|s| &s.scheme)
    {
        if s == "Basic" {
            auth.notes.push(format!(
                "`{primary}` is HTTP Basic: the key variable holds base64(user:password)"
            ));
        }
    }
    auth.primary = Some(primary.to_string());
    auth
}
