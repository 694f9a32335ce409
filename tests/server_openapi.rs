//! The reference server's `GET /openapi.json` is a valid OpenAPI 3.1 document and true:
//! walked operation by operation against the live server of every profile, every answer has
//! a documented status, body and headers; the generic errors (401, 403, 404, 400, 429) are
//! provoked and checked the same way; and every route the router serves is documented.

mod common;

use common::*;
use reqwest::Method;
use serde_json::Value;

use tollgate::server::{KeyRole, ServerProfile, ROUTES};

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

#[tokio::test]
async fn ouro_keeps_its_document() {
    walk_profile(ServerProfile::Ouro).await;
}

#[tokio::test]
async fn x_api_key_keeps_its_document() {
    walk_profile(ServerProfile::XApiKey).await;
}

#[tokio::test]
async fn bearer_v1_keeps_its_document() {
    walk_profile(ServerProfile::BearerV1).await;
}

#[tokio::test]
async fn apikey_keeps_its_document() {
    walk_profile(ServerProfile::ApiKey).await;
}

/// Rate limiting answers 429 with Retry-After and the rate headers, as documented.
#[tokio::test]
async fn a_rate_limited_answer_is_documented() {
    let server = setup(ServerProfile::Ouro)
        .limit("search=1/min")
        .start()
        .await;
    let doc = fetch_document(&server).await;
    let search = Operation::find(&doc, "get", "/v1/search");
    assert_eq!(send(&server, &search, PRIMARY).await.status, 200);
    let limited = send(&server, &search, PRIMARY).await;
    assert_eq!(limited.status, 429, "{}", limited.text);
    search.check(&limited);
    assert!(limited.header("ratelimit-remaining").is_some());
    server.stop().await;
}

/// The document needs no key and is not rate limited.
#[tokio::test]
async fn the_document_needs_no_key_and_no_quota() {
    let server = setup(ServerProfile::BearerV1)
        .limit("default=1/min")
        .start()
        .await;
    for _ in 0..3 {
        let answer = server.get("/openapi.json", Auth::None).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        assert!(answer.header("ratelimit-remaining").is_none());
    }
    server.stop().await;
}

async fn walk_profile(profile: ServerProfile) {
    let server = setup(profile).start().await;
    let doc = fetch_document(&server).await;
    check_structure(&doc);
    check_routes_match_the_router(&server, &doc).await;
    let mut ids = std::collections::HashMap::new();
    for op in operations_in_walk_order(&doc) {
        let answer = send_valid(&server, &op, &mut ids).await;
        assert!(
            answer.status < 300,
            "{profile}: a valid {} {} answered {}: {}",
            op.method,
            op.path,
            answer.status,
            answer.text
        );
        op.check(&answer);
        if op.method == "post" {
            // The same create again: a taken email (409, or bearer-v1's 400) or a second file.
            op.check(&send_valid(&server, &op, &mut ids).await);
        }
        provoke_errors(&server, &op).await;
    }
    server.stop().await;
}

async fn fetch_document(server: &Server) -> Value {
    let answer = server.get("/openapi.json", Auth::None).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.content_type(), Some("application/json"));
    answer.json()
}

/// OpenAPI 3.1 essentials: the version, every `$ref` resolves, every operation has
/// responses with descriptions, security names a scheme, every component schema compiles.
fn check_structure(doc: &Value) {
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    check_refs(doc, doc, "#");
    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    assert!(!schemes.is_empty());
    for requirement in doc["security"].as_array().unwrap() {
        for name in requirement.as_object().unwrap().keys() {
            assert!(schemes.contains_key(name), "unknown security scheme {name}");
        }
    }
    for op in all_operations(doc) {
        let responses = op.value["responses"].as_object().unwrap();
        assert!(
            !responses.is_empty(),
            "{} {} has no responses",
            op.method,
            op.path
        );
        for (status, response) in responses {
            assert!(response["description"].is_string(), "{} {status}", op.path);
        }
    }
    for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
        compile(doc, schema).unwrap_or_else(|e| panic!("schema {name}: {e}"));
    }
}

fn check_refs(doc: &Value, value: &Value, at: &str) {
    match value {
        Value::Object(map) => {
            if let Some(target) = map.get("$ref").and_then(Value::as_str) {
                let pointer = target.strip_prefix('#').expect("a local $ref");
                assert!(
                    doc.pointer(pointer).is_some(),
                    "{at}: {target} resolves nowhere"
                );
            }
            for (key, child) in map {
                check_refs(doc, child, &format!("{at}/{key}"));
            }
        }
        Value::Array(items) => items.iter().for_each(|item| check_refs(doc, item, at)),
        _ => {}
    }
}

/// Every router route is documented and nothing else; an undocumented method on a
/// documented path is a 405 in the error shape.
async fn check_routes_match_the_router(server: &Server, doc: &Value) {
    let mut documented: Vec<(String, String)> = all_operations(doc)
        .iter()
        .filter(|op| op.path != "/openapi.json")
        .map(|op| (op.method.to_uppercase(), op.path.clone()))
        .collect();
    let mut served: Vec<(String, String)> = ROUTES
        .iter()
        .map(|(method, path)| (method.to_string(), path.to_string()))
        .collect();
    documented.sort();
    served.sort();
    assert_eq!(documented, served);
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS.iter().filter(|m| item.get(**m).is_none()) {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let url = path.replace("{id}", "usr_1");
            let answer = server
                .send(server.request(method.clone(), &url, PRIMARY))
                .await;
            assert_eq!(answer.status, 405, "{method} {path}: {}", answer.text);
            assert!(validate(doc, &doc["components"]["schemas"]["Error"], &answer.json()).is_ok());
        }
    }
}

/// One operation of the document, with the document to resolve it against.
#[derive(Clone)]
struct Operation {
    doc: Value,
    method: String,
    path: String,
    value: Value,
}

fn all_operations(doc: &Value) -> Vec<Operation> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            if let Some(value) = item.get(method) {
                ops.push(Operation {
                    doc: doc.clone(),
                    method: method.to_string(),
                    path: path.clone(),
                    value: value.clone(),
                });
            }
        }
    }
    ops
}

/// Creates before reads and updates, deletes last, so every `{id}` names a live resource.
fn operations_in_walk_order(doc: &Value) -> Vec<Operation> {
    let mut ops = all_operations(doc);
    let rank = |op: &Operation| match op.method.as_str() {
        "post" => 0,
        "delete" => 2,
        _ => 1,
    };
    ops.sort_by_key(rank);
    ops
}

impl Operation {
    fn find(doc: &Value, method: &str, path: &str) -> Operation {
        all_operations(doc)
            .into_iter()
            .find(|op| op.method == method && op.path == path)
            .unwrap_or_else(|| panic!("{method} {path} is not documented"))
    }

    fn resolve<'a>(&'a self, value: &'a Value) -> &'a Value {
        match value.get("$ref").and_then(Value::as_str) {
            Some(target) => self.doc.pointer(&target[1..]).expect("checked refs"),
            None => value,
        }
    }

    fn secured(&self) -> bool {
        let security = self.value.get("security").unwrap_or(&self.doc["security"]);
        !security.as_array().unwrap().is_empty()
    }

    fn has_id(&self) -> bool {
        self.path.contains("{id}")
    }

    fn body_schema(&self) -> Option<&Value> {
        let media = self.value.get("requestBody")?;
        Some(self.resolve(&media["content"]["application/json"]["schema"]))
    }

    fn body_example(&self) -> Option<Value> {
        let media = &self.value.get("requestBody")?["content"]["application/json"];
        let example = media["example"].clone();
        validate(&self.doc, &media["schema"], &example).unwrap_or_else(|e| {
            panic!(
                "{} {}: its example breaks its schema: {e}",
                self.method, self.path
            )
        });
        Some(example)
    }

    /// The required query parameters, from their examples.
    fn query(&self, skip: Option<&str>) -> Vec<(String, String)> {
        let params = self.value["parameters"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        params
            .iter()
            .filter(|p| p["in"] == "query" && p["required"] == true)
            .filter(|p| Some(p["name"].as_str().unwrap()) != skip)
            .map(|p| {
                let example = p["example"]
                    .as_str()
                    .expect("required parameters have examples");
                (p["name"].as_str().unwrap().to_string(), example.to_string())
            })
            .collect()
    }

    /// The answer has a documented status, and its body and headers are as documented.
    fn check(&self, answer: &Answer) {
        let what = format!("{} {} → {}", self.method, self.path, answer.status);
        let response = self.value["responses"]
            .get(answer.status.to_string())
            .unwrap_or_else(|| panic!("{what} is not documented: {}", answer.text));
        match response.get("content") {
            Some(content) => {
                let media = content
                    .get(answer.content_type().unwrap_or("none"))
                    .unwrap_or_else(|| panic!("{what}: undocumented {:?}", answer.content_type()));
                validate(&self.doc, &media["schema"], &answer.json())
                    .unwrap_or_else(|e| panic!("{what}: {e}\n{}", answer.text));
            }
            None => assert!(answer.text.is_empty(), "{what}: an undocumented body"),
        }
        let headers = response["headers"].as_object().cloned().unwrap_or_default();
        // A header of the document's vocabulary that the answer carries is documented on it.
        for name in self.doc["components"]["headers"]
            .as_object()
            .unwrap()
            .keys()
        {
            let documented = headers.keys().any(|h| h.eq_ignore_ascii_case(name));
            let sent = answer.header(name).is_some();
            assert!(documented || !sent, "{what}: an undocumented {name} header");
        }
        for (name, header) in &headers {
            let header = self.resolve(header);
            match answer.header(name) {
                None => assert!(header["required"] != true, "{what}: no {name} header"),
                Some(value) => validate(&self.doc, &header["schema"], &Value::from(value))
                    .unwrap_or_else(|e| panic!("{what}: header {name}: {e}")),
            }
        }
    }
}

fn url_of(op: &Operation, id: &str, query: &[(String, String)]) -> String {
    let path = op.path.replace("{id}", id);
    let mut url = reqwest::Url::parse("http://127.0.0.1/")
        .unwrap()
        .join(&path)
        .unwrap();
    url.query_pairs_mut().extend_pairs(query);
    url.as_str()
        .trim_start_matches("http://127.0.0.1")
        .to_string()
}

fn method_of(op: &Operation) -> Method {
    Method::from_bytes(op.method.to_uppercase().as_bytes()).unwrap()
}

/// A valid request from the document: its examples, and the id its collection's POST made.
async fn send_valid(
    server: &Server,
    op: &Operation,
    ids: &mut std::collections::HashMap<String, String>,
) -> Answer {
    let collection = op.path.trim_end_matches("/{id}").to_string();
    let id = ids.get(&collection).cloned().unwrap_or_default();
    let url = url_of(op, &id, &op.query(None));
    let mut request = server.request(method_of(op), &url, PRIMARY);
    if let Some(body) = op.body_example() {
        request = request.json(&body);
    }
    let answer = server.send(request).await;
    if op.method == "post" && answer.status == 201 {
        ids.insert(
            collection,
            answer.json()["id"].as_str().unwrap().to_string(),
        );
    }
    answer
}

async fn send(server: &Server, op: &Operation, auth: Auth) -> Answer {
    let url = url_of(op, "none_1", &op.query(None));
    let mut request = server.request(method_of(op), &url, auth);
    if let Some(body) = op.body_example() {
        request = request.json(&body);
    }
    server.send(request).await
}

/// The errors any operation can be driven to without knowing what it does.
async fn provoke_errors(server: &Server, op: &Operation) {
    if !op.secured() {
        return;
    }
    let expect = |answer: Answer, status: u16| {
        assert_eq!(
            answer.status, status,
            "{} {}: {}",
            op.method, op.path, answer.text
        );
        op.check(&answer);
    };
    expect(send(server, op, Auth::None).await, 401);
    expect(send(server, op, Auth::Role(KeyRole::Revoked)).await, 403);
    if op.has_id() {
        expect(send(server, op, PRIMARY).await, 404);
    }
    if let Some(required) = op.body_schema().and_then(|s| s["required"].as_array()) {
        let mut body = op.body_example().unwrap();
        body.as_object_mut()
            .unwrap()
            .remove(required[0].as_str().unwrap());
        let url = url_of(op, "none_1", &op.query(None));
        let request = server.request(method_of(op), &url, PRIMARY).json(&body);
        expect(server.send(request).await, 400);
    }
    for (name, _) in op.query(None) {
        let url = url_of(op, "none_1", &op.query(Some(&name)));
        expect(
            server
                .send(server.request(method_of(op), &url, PRIMARY))
                .await,
            400,
        );
    }
}

/// Validates `instance` against a schema of the document (its `$ref`s resolved against the
/// document's components), formats included.
fn validate(doc: &Value, schema: &Value, instance: &Value) -> Result<(), String> {
    let validator = compile(doc, schema)?;
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| e.to_string())
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

fn compile(doc: &Value, schema: &Value) -> Result<jsonschema::Validator, String> {
    let mut schema = schema.clone();
    schema["components"] = doc["components"].clone();
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&schema)
        .map_err(|e| e.to_string())
}
