//! What a suite is generated from: the document's operations, security schemes and error
//! responses, references resolved, schemas as JSON.

use oas3::spec::{ObjectOrReference, Operation as SpecOperation, ParameterIn, SecurityScheme};
use serde_json::{Map, Value};

use super::schema::resolve;
use super::Document;

/// How a request presents its key, per the document's `securitySchemes`.
#[derive(Debug, Clone, PartialEq)]
pub enum Scheme {
    /// `apiKey` in a header, or HTTP `bearer`/`basic`… as `Authorization: <scheme> <key>`.
    Header {
        header: String,
        scheme: Option<String>,
    },
    /// `apiKey` in the query: works, but puts keys in logs.
    Query { param: String },
    /// OAuth2, OpenID Connect, mutual TLS, a cookie: not a key tollgate can send.
    Unsupported { kind: String },
}

#[derive(Debug, Clone)]
pub struct NamedScheme {
    pub name: String,
    pub scheme: Scheme,
}

#[derive(Debug, Clone)]
pub struct Parameter {
    pub name: String,
    pub location: Location,
    pub required: bool,
    pub schema: Value,
    pub example: Option<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    Path,
    Query,
    Header,
    Cookie,
}

#[derive(Debug, Clone)]
pub struct Body {
    pub content_type: String,
    pub schema: Value,
    pub example: Option<Value>,
}

#[derive(Debug, Clone)]
pub struct Response {
    /// `200`, `2XX` or `default`, as written.
    pub status: String,
    pub description: String,
    /// The JSON media type and its schema, when the response documents one.
    pub json: Option<(String, Value)>,
    /// Every documented media type.
    pub media_types: Vec<String>,
    pub headers: Vec<ResponseHeader>,
}

#[derive(Debug, Clone)]
pub struct ResponseHeader {
    pub name: String,
    pub required: bool,
    pub schema: Value,
    pub example: Option<Value>,
}

#[derive(Debug, Clone)]
pub struct Operation {
    /// Upper case: `GET`, `POST`, …
    pub method: String,
    pub path: String,
    pub operation_id: Option<String>,
    pub summary: Option<String>,
    pub tags: Vec<String>,
    pub parameters: Vec<Parameter>,
    pub body: Option<Body>,
    /// The media type of a required body that is not JSON (a form, a file upload).
    pub unsent_body: Option<String>,
    pub responses: Vec<Response>,
    /// The security requirement alternatives that apply (the operation's, else the
    /// document's); empty means no key is needed.
    pub security: Vec<Vec<String>>,
    /// `x-` extensions, prefix removed (as `oas3` keeps them).
    pub extensions: Map<String, Value>,
}

impl Operation {
    /// `GET /v1/users`.
    pub fn label(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// A key is needed: some requirement applies and none of them is the empty one
    /// (`security: [{}, {bearer: []}]` makes the key optional).
    pub fn secured(&self) -> bool {
        !self.security.is_empty() && self.security.iter().all(|alt| !alt.is_empty())
    }

    /// Whether `scheme` alone satisfies one of the operation's requirements.
    pub fn accepts(&self, scheme: &str) -> bool {
        self.security
            .iter()
            .any(|alt| alt.len() == 1 && alt[0] == scheme)
    }

    /// The first documented 2xx (or `2XX`) response.
    pub fn success(&self) -> Option<&Response> {
        self.responses.iter().find(|r| r.status.starts_with('2'))
    }

    pub fn documents(&self, status: u16) -> bool {
        let exact = status.to_string();
        let class = format!("{}XX", status / 100);
        self.responses
            .iter()
            .any(|r| r.status == exact || r.status.eq_ignore_ascii_case(&class))
    }

    pub fn response(&self, status: u16) -> Option<&Response> {
        let exact = status.to_string();
        self.responses.iter().find(|r| r.status == exact)
    }
}

/// The whole API as the generator sees it.
pub struct Api {
    pub title: String,
    pub schemes: Vec<NamedScheme>,
    pub operations: Vec<Operation>,
    /// Things the document holds that could not be used, for the user to read.
    pub warnings: Vec<String>,
}

impl Api {
    pub fn from_document(doc: &Document) -> Api {
        let spec = &doc.spec;
        let mut warnings = Vec::new();
        let schemes = security_schemes(spec, &mut warnings);
        let global: Vec<Vec<String>> = spec.security.iter().map(requirement_names).collect();
        let mut operations = Vec::new();
        for (path, method, op) in spec.operations() {
            let path_params = spec
                .paths
                .as_ref()
                .and_then(|paths| paths.get(&path))
                .map(|item| item.parameters.clone())
                .unwrap_or_default();
            operations.push(operation(
                doc,
                &path,
                method.as_str(),
                op,
                &path_params,
                &global,
                &mut warnings,
            ));
        }
        Api {
            title: spec.info.title.clone(),
            schemes,
            operations,
            warnings,
        }
    }

    pub fn scheme(&self, name: &str) -> Option<&NamedScheme> {
        self.schemes.iter().find(|s| s.name == name)
    }
}

fn requirement_names(requirement: &oas3::spec::SecurityRequirement) -> Vec<String> {
    requirement.0.keys().cloned().collect()
}

fn security_schemes(spec: &oas3::Spec, warnings: &mut Vec<String>) -> Vec<NamedScheme> {
    let Some(components) = &spec.components else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name, scheme) in components.security_schemes.iter() {
        let scheme = match scheme.resolve(spec) {
            Ok(s) => s,
            Err(e) => {
                warnings.push(format!("security scheme `{name}`: {e}"));
                continue;
            }
        };
        let scheme = match scheme {
            SecurityScheme::ApiKey { name, location, .. } => match location.as_str() {
                "header" if is_header_name(&name) => Scheme::Header {
                    header: name,
                    scheme: None,
                },
                "header" => Scheme::Unsupported {
                    kind: "apiKey in a header whose name is not a valid header name".into(),
                },
                "query" => Scheme::Query { param: name },
                other => Scheme::Unsupported {
                    kind: format!("apiKey in {other}"),
                },
            },
            // A scheme that carries a key as it is (Bearer, Basic, a vendor's `apikey`);
            // Digest, Negotiate and the signature schemes are handshakes, not keys.
            SecurityScheme::Http { scheme, .. } if is_key_scheme(&scheme) => Scheme::Header {
                header: "Authorization".into(),
                scheme: Some(http_scheme_name(&scheme)),
            },
            SecurityScheme::Http { scheme, .. } => Scheme::Unsupported {
                kind: format!("http {}", super::text::comment(&scheme)),
            },
            SecurityScheme::OAuth2 { .. } => Scheme::Unsupported {
                kind: "oauth2".into(),
            },
            SecurityScheme::OpenIdConnect { .. } => Scheme::Unsupported {
                kind: "openIdConnect".into(),
            },
            #[allow(unreachable_patterns)]
            _ => Scheme::Unsupported {
                kind: "mutualTLS".into(),
            },
        };
        out.push(NamedScheme {
            name: name.clone(),
            scheme,
        });
    }
    out
}

/// An HTTP field name: one or more token characters (RFC 9110 §5.1).
fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// HTTP authentication schemes that prove something other than holding a key.
const HANDSHAKE_SCHEMES: [&str; 11] = [
    "digest",
    "negotiate",
    "ntlm",
    "hoba",
    "mutual",
    "scram-sha-1",
    "scram-sha-256",
    "vapid",
    "aws4-hmac-sha256",
    "oauth",
    "dpop",
];

fn is_key_scheme(scheme: &str) -> bool {
    is_header_name(scheme) && !HANDSHAKE_SCHEMES.contains(&scheme.to_ascii_lowercase().as_str())
}

/// `bearer` → `Bearer`, `basic` → `Basic` (the spelling of RFC 6750 and 7617); others as
/// the document writes them (schemes compare without case).
fn http_scheme_name(scheme: &str) -> String {
    match scheme.to_ascii_lowercase().as_str() {
        "bearer" => "Bearer".into(),
        "basic" => "Basic".into(),
        _ => scheme.to_string(),
    }
}

fn operation(
    doc: &Document,
    path: &str,
    method: &str,
    op: &SpecOperation,
    path_params: &[ObjectOrReference<oas3::spec::Parameter>],
    global: &[Vec<String>],
    warnings: &mut Vec<String>,
) -> Operation {
    let spec = &doc.spec;
    let label = format!("{} {path}", method.to_uppercase());
    let raw = Raw::of(doc, path, method);
    let mut parameters: Vec<Parameter> = Vec::new();
    // Operation parameters override path-level ones of the same name and place.
    let own = op.parameters(spec).unwrap_or_default();
    let inherited = path_params.iter().filter_map(|p| p.resolve(spec).ok());
    for p in own.into_iter().chain(inherited) {
        let location = match p.location {
            ParameterIn::Path => Location::Path,
            ParameterIn::Query => Location::Query,
            ParameterIn::Header => Location::Header,
            ParameterIn::Cookie => Location::Cookie,
        };
        if parameters
            .iter()
            .any(|q| q.name == p.name && q.location == location)
        {
            continue;
        }
        let example = p.example.clone().or_else(|| {
            p.examples
                .values()
                .find_map(|e| e.resolve(spec).ok().and_then(|e| e.value))
        });
        parameters.push(Parameter {
            required: p.required.unwrap_or(false) || location == Location::Path,
            schema: raw.parameter_schema(&p.name, location),
            example,
            name: p.name,
            location,
        });
    }
    let mut unsent_body = None;
    let body = match op.request_body(spec) {
        Ok(Some(body)) => {
            let json = request_body(doc, &raw, &body);
            if json.is_none() && body.required == Some(true) {
                unsent_body = body.content.keys().next().cloned();
            }
            json
        }
        Ok(None) => None,
        Err(e) => {
            warnings.push(format!("{label}: request body: {e}"));
            None
        }
    };
    let mut responses: Vec<Response> = op
        .responses(spec)
        .iter()
        .map(|(status, r)| response(doc, &raw, status, r))
        .collect();
    // oas3 leaves out a response whose `$ref` it cannot follow; the status is still
    // documented, its content unknown.
    for status in raw.statuses() {
        if !responses.iter().any(|r| r.status == status) {
            warnings.push(format!(
                "{label}: response {status} could not be read (a `$ref` outside the document?)"
            ));
            responses.push(Response {
                status,
                description: String::new(),
                json: None,
                media_types: Vec::new(),
                headers: Vec::new(),
            });
        }
    }
    let security = if op.security.is_empty() && !op_declares_empty_security(doc, path, method) {
        global.to_vec()
    } else {
        op.security.iter().map(requirement_names).collect()
    };
    Operation {
        method: method.to_uppercase(),
        path: path.to_string(),
        operation_id: op.operation_id.clone(),
        summary: op.summary.clone(),
        tags: op.tags.clone(),
        parameters,
        body,
        unsent_body,
        responses,
        security,
        extensions: op
            .extensions
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    }
}

/// `security: []` on an operation switches the document's requirement off; `oas3` reads
/// both an absent and an empty list as empty, so the JSON tells them apart.
fn op_declares_empty_security(doc: &Document, path: &str, method: &str) -> bool {
    let op = &doc.json["paths"][path][method.to_lowercase()];
    matches!(op.get("security"), Some(Value::Array(list)) if list.is_empty())
}

fn is_json(media_type: &str) -> bool {
    let essence = media_type.split(';').next().unwrap_or("").trim();
    essence == "application/json" || essence.ends_with("+json") || essence == "*/*"
}

fn request_body(doc: &Document, raw: &Raw, body: &oas3::spec::RequestBody) -> Option<Body> {
    let (content_type, media) = body.content.iter().find(|(t, _)| is_json(t))?;
    let example = media.examples.as_ref().and_then(|e| {
        e.resolve_all(&doc.spec)
            .into_iter()
            .find_map(|(_, e)| e.value)
    });
    Some(Body {
        content_type: content_type.clone(),
        schema: raw.body_schema(content_type),
        example,
    })
}

fn response(doc: &Document, raw: &Raw, status: &str, r: &oas3::spec::Response) -> Response {
    let json = r
        .content
        .keys()
        .find(|t| is_json(t))
        .map(|t| (t.clone(), raw.response_schema(status, t)));
    let headers = r
        .headers
        .iter()
        .filter_map(|(name, h)| {
            let h = h.resolve(&doc.spec).ok()?;
            Some(ResponseHeader {
                name: name.clone(),
                required: h.required.unwrap_or(false),
                schema: raw.header_schema(status, name),
                example: h.example.clone(),
            })
        })
        .collect();
    Response {
        status: status.to_string(),
        description: r.description.clone().unwrap_or_default(),
        json,
        media_types: r.content.keys().cloned().collect(),
        headers,
    }
}

/// One operation as JSON: schemas are taken from here, exactly as written (a typed
/// schema model would drop keywords it does not know), with `$ref`s to components kept
/// for [`super::schema::standalone`].
struct Raw<'a> {
    doc: &'a Value,
    path_item: &'a Value,
    op: &'a Value,
}

impl<'a> Raw<'a> {
    fn of(doc: &'a Document, path: &str, method: &str) -> Raw<'a> {
        let path_item = resolve(&doc.json["paths"][path], &doc.json);
        Raw {
            doc: &doc.json,
            path_item,
            op: &path_item[method.to_lowercase()],
        }
    }

    fn statuses(&self) -> Vec<String> {
        self.op["responses"]
            .as_object()
            .map(|r| r.keys().cloned().collect())
            .unwrap_or_default()
    }

    fn parameter_schema(&self, name: &str, location: Location) -> Value {
        let place = match location {
            Location::Path => "path",
            Location::Query => "query",
            Location::Header => "header",
            Location::Cookie => "cookie",
        };
        [self.op, self.path_item]
            .iter()
            .filter_map(|level| level.get("parameters").and_then(Value::as_array))
            .flatten()
            .map(|p| resolve(p, self.doc))
            .find(|p| p["name"] == name && p["in"] == place)
            .and_then(|p| p.get("schema"))
            .cloned()
            .unwrap_or(Value::Bool(true))
    }

    fn body_schema(&self, content_type: &str) -> Value {
        let body = resolve(&self.op["requestBody"], self.doc);
        schema_or_anything(&body["content"][content_type])
    }

    fn response_schema(&self, status: &str, content_type: &str) -> Value {
        let response = resolve(&self.op["responses"][status], self.doc);
        schema_or_anything(&response["content"][content_type])
    }

    fn header_schema(&self, status: &str, header: &str) -> Value {
        let response = resolve(&self.op["responses"][status], self.doc);
        schema_or_anything(resolve(&response["headers"][header], self.doc))
    }
}

fn schema_or_anything(holder: &Value) -> Value {
    holder.get("schema").cloned().unwrap_or(Value::Bool(true))
}
