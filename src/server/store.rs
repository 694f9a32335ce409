//! In-memory data: users, files and idempotency records.
//!
//! Validation lives here, next to the data it protects, so every route that writes a user
//! or a file applies the same rules.

use std::collections::{BTreeMap, HashMap};
use std::time::SystemTime;

use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use super::auth::Caller;
use super::config::Resources;
use super::response::ApiError;

pub const MIN_PASSWORD_LEN: usize = 8;
pub const EMAIL_TAKEN: &str = "Email address is already in use.";
/// Largest file content accepted, in bytes of the `content` string.
pub const MAX_FILE_BYTES: usize = 1 << 20;

#[derive(Debug, Clone)]
struct User {
    id: String,
    name: String,
    email: String,
    // Kept only to model the API: it is never returned.
    _password: String,
    created_at: String,
    updated_at: String,
}

impl User {
    fn to_json(&self, resources: Resources) -> Value {
        match resources {
            Resources::UsersV1 => json!({
                "id": self.id,
                "name": self.name,
                "email": self.email,
                "created_at": self.created_at,
            }),
            Resources::Ouro => json!({
                "id": self.id,
                "object": "user",
                "name": self.name,
                "email": self.email,
                "created_at": self.created_at,
                "updated_at": self.updated_at,
            }),
        }
    }

    /// The answer to an update: the users v1 document shows `updated_at` in place of
    /// `created_at`.
    fn updated_json(&self, resources: Resources) -> Value {
        match resources {
            Resources::UsersV1 => json!({
                "id": self.id,
                "name": self.name,
                "email": self.email,
                "updated_at": self.updated_at,
            }),
            Resources::Ouro => self.to_json(resources),
        }
    }
}

#[derive(Debug, Clone)]
struct File {
    id: String,
    name: String,
    content_type: String,
    content: String,
    created_at: String,
}

impl File {
    fn to_json(&self, with_content: bool) -> Value {
        let mut value = json!({
            "id": self.id,
            "object": "file",
            "name": self.name,
            "content_type": self.content_type,
            "size": self.content.len(),
            "created_at": self.created_at,
        });
        if with_content {
            value["content"] = json!(self.content);
        }
        value
    }
}

/// A stored answer to a POST with an `Idempotency-Key`.
#[derive(Debug, Clone)]
pub struct Recorded {
    request_body: Value,
    pub status: u16,
    pub body: Value,
}

/// What to do with a POST that carries an `Idempotency-Key`.
pub enum Idempotency {
    /// First use of the key: run the request and record its answer.
    Fresh,
    /// Same key, same body: send the recorded answer again.
    Replay(Recorded),
    /// Same key, different body.
    Conflict,
}

/// `limit`/`offset` of a list request, validated.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub limit: usize,
    pub offset: usize,
}

impl Page {
    pub const DEFAULT_LIMIT: usize = 10;
    pub const MAX_LIMIT: usize = 100;

    pub fn from_query(query: &HashMap<String, String>) -> Result<Self, ApiError> {
        let limit = match query.get("limit") {
            None => Self::DEFAULT_LIMIT,
            Some(raw) => raw
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=Self::MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "Invalid parameter: limit must be an integer between 1 and {}.",
                        Self::MAX_LIMIT
                    ))
                })?,
        };
        let offset = match query.get("offset") {
            None => 0,
            Some(raw) => raw.parse::<usize>().map_err(|_| {
                ApiError::bad_request("Invalid parameter: offset must be a non-negative integer.")
            })?,
        };
        Ok(Page { limit, offset })
    }

    /// The page as a bare array (the users v1 document's list). Only the page's items are
    /// rendered: a list is O(page), however many resources a load test left.
    fn bare<T>(self, items: impl Iterator<Item = T>, render: impl Fn(T) -> Value) -> Value {
        Value::Array(
            items
                .skip(self.offset)
                .take(self.limit)
                .map(render)
                .collect(),
        )
    }

    /// The page in a list envelope; `total` is the length of the whole collection.
    fn list<T>(
        self,
        items: impl Iterator<Item = T>,
        render: impl Fn(T) -> Value,
        total: usize,
    ) -> Value {
        let data: Vec<Value> = items
            .skip(self.offset)
            .take(self.limit)
            .map(render)
            .collect();
        json!({ "object": "list", "data": data, "limit": self.limit, "offset": self.offset, "total": total })
    }
}

#[derive(Debug, Default)]
pub struct Store {
    resources: Resources,
    next_id: u64,
    users: BTreeMap<u64, User>,
    /// Each user's email, ASCII-lowercased, to its key: a create checks uniqueness in O(1)
    /// however many users a workload left.
    emails: HashMap<String, u64>,
    files: BTreeMap<u64, File>,
    idempotency: HashMap<(Caller, String, String), Recorded>,
}

impl Store {
    pub fn new(resources: Resources) -> Self {
        Store {
            resources,
            ..Store::default()
        }
    }

    fn user_prefix(&self) -> &'static str {
        match self.resources {
            Resources::UsersV1 => "user_",
            Resources::Ouro => "usr_",
        }
    }

    fn allocate(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub fn list_users(&self, page: Page) -> Value {
        let render = |u: &User| u.to_json(self.resources);
        match self.resources {
            Resources::UsersV1 => page.bare(self.users.values(), render),
            Resources::Ouro => page.list(self.users.values(), render, self.users.len()),
        }
    }

    pub fn get_user(&self, id: &str) -> Result<Value, ApiError> {
        let key = parse_id(id, self.user_prefix()).ok_or_else(user_not_found)?;
        self.users
            .get(&key)
            .map(|u| u.to_json(self.resources))
            .ok_or_else(user_not_found)
    }

    pub fn create_user(&mut self, body: &Value) -> Result<Value, ApiError> {
        let fields = object(body)?;
        let name = required_string(fields, "name")?;
        let email = required_string(fields, "email")?;
        let password = required_string(fields, "password")?;
        validate_email(&email)?;
        validate_password(&password)?;
        self.ensure_email_free(&email, None)?;
        let key = self.allocate();
        let now = timestamp();
        let user = User {
            id: format!("{}{key}", self.user_prefix()),
            name,
            email,
            _password: password,
            created_at: now.clone(),
            updated_at: now,
        };
        let json = user.to_json(self.resources);
        self.emails.insert(user.email.to_ascii_lowercase(), key);
        self.users.insert(key, user);
        Ok(json)
    }

    pub fn update_user(&mut self, id: &str, body: &Value) -> Result<Value, ApiError> {
        let key = parse_id(id, self.user_prefix()).ok_or_else(user_not_found)?;
        if !self.users.contains_key(&key) {
            return Err(user_not_found());
        }
        let fields = object(body)?;
        let name = optional_string(fields, "name")?;
        let email = optional_string(fields, "email")?;
        let password = optional_string(fields, "password")?;
        if name.is_none() && email.is_none() && password.is_none() {
            return Err(ApiError::bad_request(
                "Nothing to update: provide at least one of name, email, password.",
            ));
        }
        if let Some(email) = &email {
            validate_email(email)?;
            self.ensure_email_free(email, Some(key))?;
        }
        if let Some(password) = &password {
            validate_password(password)?;
        }
        let user = self.users.get_mut(&key).expect("checked above");
        if let Some(name) = name {
            user.name = name;
        }
        if let Some(email) = email {
            self.emails.remove(&user.email.to_ascii_lowercase());
            self.emails.insert(email.to_ascii_lowercase(), key);
            user.email = email;
        }
        if let Some(password) = password {
            user._password = password;
        }
        user.updated_at = timestamp();
        Ok(user.updated_json(self.resources))
    }

    pub fn delete_user(&mut self, id: &str) -> Result<(), ApiError> {
        let key = parse_id(id, self.user_prefix()).ok_or_else(user_not_found)?;
        let user = self.users.remove(&key).ok_or_else(user_not_found)?;
        self.emails.remove(&user.email.to_ascii_lowercase());
        self.forget_creation(&format!("{}{key}", self.user_prefix()));
        Ok(())
    }

    pub fn list_files(&self, page: Page) -> Value {
        page.list(self.files.values(), |f| f.to_json(false), self.files.len())
    }

    pub fn get_file(&self, id: &str) -> Result<Value, ApiError> {
        let key = parse_id(id, "file_").ok_or_else(file_not_found)?;
        self.files
            .get(&key)
            .map(|f| f.to_json(true))
            .ok_or_else(file_not_found)
    }

    pub fn create_file(&mut self, body: &Value) -> Result<Value, ApiError> {
        let fields = object(body)?;
        let name = required_string(fields, "name")?;
        let content = required_string_allow_empty(fields, "content")?;
        if content.len() > MAX_FILE_BYTES {
            return Err(ApiError::bad_request(format!(
                "File content is too large: at most {MAX_FILE_BYTES} bytes."
            )));
        }
        let content_type =
            optional_string(fields, "content_type")?.unwrap_or_else(|| "text/plain".into());
        let key = self.allocate();
        let file = File {
            id: format!("file_{key}"),
            name,
            content_type,
            content,
            created_at: timestamp(),
        };
        let json = file.to_json(false);
        self.files.insert(key, file);
        Ok(json)
    }

    pub fn delete_file(&mut self, id: &str) -> Result<(), ApiError> {
        let key = parse_id(id, "file_").ok_or_else(file_not_found)?;
        self.files.remove(&key).ok_or_else(file_not_found)?;
        self.forget_creation(&format!("file_{key}"));
        Ok(())
    }

    /// Drops the idempotency record of the request that created `id`: a retry of that
    /// request after the delete creates it afresh instead of answering with an id that no
    /// longer exists (what a client, or a tool following the 201's id, would trip over).
    fn forget_creation(&mut self, id: &str) {
        self.idempotency
            .retain(|_, recorded| recorded.body.get("id").and_then(Value::as_str) != Some(id));
    }

    /// Case-insensitive substring search over user names and emails and file names.
    pub fn search(&self, query: &str, limit: usize) -> Value {
        let needle = query.to_lowercase();
        let users = self
            .users
            .values()
            .filter(|u| {
                u.name.to_lowercase().contains(&needle) || u.email.to_lowercase().contains(&needle)
            })
            .map(|u| u.to_json(self.resources));
        let files = self
            .files
            .values()
            .filter(|f| f.name.to_lowercase().contains(&needle))
            .map(|f| f.to_json(false));
        let data: Vec<Value> = users.chain(files).take(limit).collect();
        json!({ "object": "search_result", "query": query, "data": data })
    }

    pub fn idempotency(&self, caller: Caller, path: &str, key: &str, body: &Value) -> Idempotency {
        match self
            .idempotency
            .get(&(caller, path.to_string(), key.to_string()))
        {
            None => Idempotency::Fresh,
            Some(recorded) if recorded.request_body == *body => {
                Idempotency::Replay(recorded.clone())
            }
            Some(_) => Idempotency::Conflict,
        }
    }

    pub fn record(
        &mut self,
        caller: Caller,
        path: &str,
        key: &str,
        body: Value,
        status: u16,
        answer: Value,
    ) {
        self.idempotency.insert(
            (caller, path.to_string(), key.to_string()),
            Recorded {
                request_body: body,
                status,
                body: answer,
            },
        );
    }

    fn ensure_email_free(&self, email: &str, except: Option<u64>) -> Result<(), ApiError> {
        let taken = self
            .emails
            .get(&email.to_ascii_lowercase())
            .is_some_and(|key| Some(*key) != except);
        if taken {
            Err(self.email_taken())
        } else {
            Ok(())
        }
    }

    /// The users v1 document spells out a 400 for a taken email. Elsewhere the request is
    /// valid but conflicts with the data, which HTTP calls 409 (and a generic tool checking
    /// our OpenAPI document expects, as no schema can say "unique").
    fn email_taken(&self) -> ApiError {
        let status = match self.resources {
            Resources::UsersV1 => StatusCode::BAD_REQUEST,
            Resources::Ouro => StatusCode::CONFLICT,
        };
        ApiError::new(status, EMAIL_TAKEN)
    }
}

fn user_not_found() -> ApiError {
    ApiError::not_found("User not found.")
}

fn file_not_found() -> ApiError {
    ApiError::not_found("File not found.")
}

fn parse_id(id: &str, prefix: &str) -> Option<u64> {
    id.strip_prefix(prefix)?.parse().ok()
}

fn object(body: &Value) -> Result<&Map<String, Value>, ApiError> {
    body.as_object()
        .ok_or_else(|| ApiError::bad_request("The request body must be a JSON object."))
}

/// The characters that count as blank, as the body of a regex character class: every
/// control character and every space in Unicode's, ECMAScript's (JSON Schema `\s`) and
/// Python's sense. The published document's patterns are built from this list and the
/// store checks with [`is_blank`], so a tool generating strings from the document and the
/// store agree on what is blank whichever regex dialect the tool speaks.
pub const BLANK_CLASS: &str =
    "\\x00-\\x20\\x7f-\\x9f\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff";

/// A character of [`BLANK_CLASS`].
pub fn is_blank(c: char) -> bool {
    c.is_control() || c.is_whitespace() || c == '\u{feff}'
}

/// Nothing but blanks (or nothing at all).
pub fn is_blank_text(text: &str) -> bool {
    text.chars().all(is_blank)
}

fn required_string(fields: &Map<String, Value>, name: &str) -> Result<String, ApiError> {
    let value = required_string_allow_empty(fields, name)?;
    if is_blank_text(&value) {
        return Err(ApiError::bad_request(format!(
            "Missing required parameter: {name}."
        )));
    }
    Ok(value)
}

fn required_string_allow_empty(
    fields: &Map<String, Value>,
    name: &str,
) -> Result<String, ApiError> {
    optional_string(fields, name)?
        .ok_or_else(|| ApiError::bad_request(format!("Missing required parameter: {name}.")))
}

fn optional_string(fields: &Map<String, Value>, name: &str) -> Result<Option<String>, ApiError> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::bad_request(format!(
            "Invalid parameter: {name} must be a string."
        ))),
    }
}

fn validate_email(email: &str) -> Result<(), ApiError> {
    let valid = email.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
    }) && !email.contains(is_blank);
    if valid {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "Invalid parameter: email is not a valid email address.",
        ))
    }
}

fn validate_password(password: &str) -> Result<(), ApiError> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        Err(ApiError::bad_request(format!(
            "Password must be at least {MIN_PASSWORD_LEN} characters long."
        )))
    } else {
        Ok(())
    }
}

fn timestamp() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(email: &str, password: &str) -> Value {
        json!({ "name": "Charlie", "email": email, "password": password })
    }

    #[test]
    fn users_are_validated_in_a_fixed_order() {
        let mut store = Store::default();
        let err = store
            .create_user(&json!({ "email": "a@b.io" }))
            .unwrap_err();
        assert_eq!(err.message, "Missing required parameter: name.");
        let err = store.create_user(&user("a@b.io", "short")).unwrap_err();
        assert_eq!(err.message, "Password must be at least 8 characters long.");
        let err = store
            .create_user(&user("not-an-email", "longenough"))
            .unwrap_err();
        assert!(err.message.contains("email"), "{}", err.message);
        let err = store.create_user(&json!([1, 2])).unwrap_err();
        assert!(err.message.contains("JSON object"));
        let created = store.create_user(&user("a@b.io", "longenough")).unwrap();
        assert!(
            created.get("password").is_none(),
            "passwords are never returned"
        );
        let err = store
            .create_user(&user("A@B.io", "longenough"))
            .unwrap_err();
        assert_eq!(err.message, "Email address is already in use.");
    }

    #[test]
    fn pages_reject_out_of_range_values() {
        let query = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<HashMap<_, _>>()
        };
        assert!(Page::from_query(&query(&[("limit", "0")])).is_err());
        assert!(Page::from_query(&query(&[("limit", "101")])).is_err());
        assert!(Page::from_query(&query(&[("limit", "ten")])).is_err());
        assert!(Page::from_query(&query(&[("offset", "-1")])).is_err());
        let page = Page::from_query(&query(&[("limit", "2"), ("offset", "1")])).unwrap();
        let listed = page.list(0..5, |n| json!(n), 5);
        assert_eq!(listed["data"], json!([1, 2]));
        assert_eq!(listed["total"], 5);
    }

    #[test]
    fn blank_characters_are_the_documented_class() {
        let class = regex::Regex::new(&format!("^[{BLANK_CLASS}]$")).unwrap();
        for c in (0..=0x3000)
            .chain([0xfeff, 0xfffe])
            .filter_map(char::from_u32)
        {
            assert_eq!(
                is_blank(c),
                class.is_match(c.encode_utf8(&mut [0; 4])),
                "U+{:04X}",
                c as u32
            );
        }
        // The ones regex dialects disagree on are all blank here.
        assert!(['\u{85}', '\u{feff}', '\u{1c}', '\u{a0}']
            .into_iter()
            .all(is_blank));
        let err = store_with_user("C\u{92}@6\u{105}\u{85}5.").unwrap_err();
        assert!(err.message.contains("email"), "{}", err.message);
        assert!(store_with_user("c@\u{105}x.io").is_ok());
    }

    fn store_with_user(email: &str) -> Result<Value, ApiError> {
        Store::default().create_user(&user(email, "longenough"))
    }

    #[test]
    fn a_deleted_resource_is_created_afresh_by_a_retry_of_its_create() {
        use crate::server::keys::Mode;
        let caller = Caller {
            account: 1,
            mode: Mode::Live,
        };
        let mut store = Store::default();
        let body = json!({ "name": "notes.txt", "content": "hello" });
        assert!(matches!(
            store.idempotency(caller, "/v1/files", "k1", &body),
            Idempotency::Fresh
        ));
        let created = store.create_file(&body).unwrap();
        store.record(
            caller,
            "/v1/files",
            "k1",
            body.clone(),
            201,
            created.clone(),
        );
        assert!(matches!(
            store.idempotency(caller, "/v1/files", "k1", &body),
            Idempotency::Replay(_)
        ));
        store.delete_file(created["id"].as_str().unwrap()).unwrap();
        assert!(matches!(
            store.idempotency(caller, "/v1/files", "k1", &body),
            Idempotency::Fresh
        ));
    }
}
