//! The deployment under test, as one run sees it: its base URL, the profile that describes
//! it, the keys of each role, the one HTTP client every phase sends on, and the redactor
//! every output passes through.
//!
//! Built once, complete, by [`Target::external`] (a deployment named by `--target` or the
//! profile) or [`Target::embedded`] (the reference server tollgate starts itself); nothing
//! about it changes afterwards, so the client is built eagerly from the final settings.

use std::collections::HashMap;

use crate::contract::client::{self, HeaderValueText, Outgoing};
use crate::contract::snapshot::SnapshotStore;
use crate::keys::{Credential, KeyRole};
use crate::profile::{AuthSpec, Profile};
use crate::scenario::template::{render_json, Vars};
use crate::scenario::RequestSpec;
use crate::secret::{Redactor, Secret};
use crate::transport::Transport;

/// How a run treats the target beyond what its profile says.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// How every client connects: TLS trust, client certificate, HTTP version, proxies.
    pub transport: Transport,
    /// Rewrite snapshots instead of comparing with them (`--update-snapshots`).
    pub update_snapshots: bool,
}

/// Everything the runners need to know about the deployment under test.
#[derive(Debug)]
pub struct Target {
    base_url: String,
    profile: Profile,
    /// Key values by credential; `Invalid` is generated per run and valid nowhere.
    keys: HashMap<Credential, Secret>,
    snapshots: SnapshotStore,
    redactor: Redactor,
    options: Options,
    client: reqwest::Client,
    /// The load phase's and the probes' client (see [`Target::load_client`]).
    load_client: reqwest::Client,
}

/// How a request presents credentials.
#[derive(Debug, Clone, Copy)]
pub enum Presenting<'a> {
    Role(Credential),
    /// The primary key in another accepted style.
    Style(&'a AuthSpec),
    /// The primary key behind a scheme nobody accepts.
    WrongScheme,
    /// The primary key only in the query string.
    InQuery,
}

impl Target {
    /// A deployment at `base_url`, its keys read through `env` from the variables the
    /// profile names. The primary key is required; a role whose variable is unset is left
    /// out, and the checks that need it are skipped with that reason.
    pub fn external(
        base_url: &str,
        profile: Profile,
        env: impl Fn(&str) -> Option<String>,
        options: Options,
    ) -> Result<Target, String> {
        let keys: HashMap<Credential, Secret> = KeyRole::ALL
            .into_iter()
            .filter_map(|role| {
                let value = env(profile.keys.get(role)?)?;
                let value = value.trim();
                (!value.is_empty()).then(|| (Credential::Key(role), Secret::new(value)))
            })
            .collect();
        let mut keys = keys;
        if let Some(list) = profile.keys.tenants.as_deref().and_then(&env) {
            keys.extend(tenant_keys(&list));
        }
        if !keys.contains_key(&Credential::PRIMARY) {
            return Err(format!(
                "{} is not set: the primary API key is required to check {base_url} (export it, never pass it as an argument)",
                profile.keys.primary
            ));
        }
        Ok(Target::new(base_url, profile, keys, options))
    }

    /// The embedded reference server at `base_url`, holding the keys of `ring`. Only the
    /// roles the profile configures are used: the server has every key, the profile decides
    /// which the checks may present.
    pub fn embedded(base_url: &str, ring: &crate::server::KeyRing, profile: Profile) -> Target {
        let mut keys: HashMap<Credential, Secret> = KeyRole::ALL
            .into_iter()
            .filter(|role| profile.keys.get(*role).is_some())
            .filter_map(|role| Some((Credential::Key(role), Secret::new(ring.get(role)?))))
            .collect();
        keys.extend(tenant_keys(&ring.tenants().join(",")));
        Target::new(base_url, profile, keys, Options::default())
    }

    fn new(
        base_url: &str,
        profile: Profile,
        mut keys: HashMap<Credential, Secret>,
        options: Options,
    ) -> Target {
        keys.insert(Credential::Invalid, invalid_key());
        Target {
            base_url: base_url.trim_end_matches('/').to_string(),
            snapshots: SnapshotStore {
                dir: profile.snapshots.clone(),
                update: options.update_snapshots,
            },
            redactor: redactor(&keys, &options.transport),
            client: client::build(&options.transport),
            load_client: load_client_for(&options),
            profile,
            keys,
            options,
        }
    }

    /// The same target with other options (the client is rebuilt from them).
    pub fn with_options(mut self, options: Options) -> Target {
        self.client = client::build(&options.transport);
        self.load_client = load_client_for(&options);
        for password in options.transport.proxies.passwords() {
            self.redactor.add(Secret::new(password));
        }
        self.snapshots.update = options.update_snapshots;
        self.options = options;
        self
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    pub fn options(&self) -> &Options {
        &self.options
    }

    pub fn snapshots(&self) -> &SnapshotStore {
        &self.snapshots
    }

    /// Whether the run holds any real key (beyond the generated invalid one).
    pub fn presents_keys(&self) -> bool {
        self.keys.len() > 1
    }

    /// Every key value of the run, the invalid one included.
    pub fn key_values(&self) -> impl Iterator<Item = &Secret> {
        self.keys.values()
    }

    /// Builds the request of `spec` with `vars`, presenting credentials as asked.
    pub fn request(
        &self,
        spec: &RequestSpec,
        vars: &Vars,
        presenting: Presenting,
    ) -> Result<Outgoing, String> {
        let path = spec
            .path
            .render(vars)
            .map_err(|e| format!("cannot build the request: {e}"))?;
        let mut url = reqwest::Url::parse(&format!("http://placeholder{path}"))
            .map_err(|e| format!("`{path}` is not a valid path: {e}"))?;
        let mut headers = Vec::new();
        let mut presented = Vec::new();
        {
            let mut query = url.query_pairs_mut();
            for (name, template) in &spec.query {
                query.append_pair(
                    name,
                    &template
                        .render(vars)
                        .map_err(|e| format!("cannot build the request: {e}"))?,
                );
            }
        }
        for (name, template) in &spec.headers {
            let value = template
                .render(vars)
                .map_err(|e| format!("cannot build the request: {e}"))?;
            headers.push((name.clone(), HeaderValueText::Plain(value)));
        }
        let auth = &self.profile.auth;
        let mut present = |spec: &AuthSpec, value: String, key: &Secret| {
            headers.push((spec.header.clone(), HeaderValueText::Secret(value)));
            presented.push(key.clone());
        };
        match presenting {
            Presenting::Role(Credential::None) => {}
            Presenting::Role(kind) => {
                let key = self.key(kind)?;
                present(auth, auth.value(key.expose()), key);
            }
            Presenting::Style(style) => {
                let key = self.key(Credential::PRIMARY)?;
                present(style, style.value(key.expose()), key);
            }
            Presenting::WrongScheme => {
                let key = self.key(Credential::PRIMARY)?;
                let wrong = match &auth.scheme {
                    Some(s) if s.eq_ignore_ascii_case("basic") => "Token",
                    Some(_) => "Basic",
                    None => "Bearer",
                };
                present(auth, format!("{wrong} {}", key.expose()), key);
            }
            Presenting::InQuery => {
                let key = self.key(Credential::PRIMARY)?;
                url.query_pairs_mut()
                    .append_pair("api_key", key.expose())
                    .append_pair("access_token", key.expose());
                presented.push(key.clone());
            }
        }
        let json = match &spec.json {
            Some(body) => Some(
                render_json(body, vars).map_err(|e| format!("cannot build the request: {e}"))?,
            ),
            None => None,
        };
        let path_and_query = match url.query() {
            Some(q) if !q.is_empty() => format!("{}?{q}", url.path()),
            _ => url.path().to_string(),
        };
        let method =
            reqwest::Method::from_bytes(spec.method.as_bytes()).map_err(|e| e.to_string())?;
        Ok(Outgoing {
            label: format!("{} {}", spec.method, url.path()),
            method,
            path_and_query,
            headers,
            json,
            presented,
        })
    }

    /// How many tenant keys the run holds (`Credential::Tenant(0..n)`).
    pub fn tenant_count(&self) -> usize {
        self.keys
            .keys()
            .filter(|c| matches!(c, Credential::Tenant(_)))
            .count()
    }

    pub fn key(&self, credential: Credential) -> Result<&Secret, String> {
        self.keys.get(&credential).ok_or_else(|| {
            if let Credential::Tenant(n) = credential {
                return match &self.profile.keys.tenants {
                    Some(var) => format!(
                        "no tenant key #{}: {var} lists {}",
                        n + 1,
                        self.tenant_count()
                    ),
                    None => "the profile names no `keys.tenants` variable".to_string(),
                };
            }
            let Credential::Key(role) = credential else {
                return "this credential presents no key".to_string();
            };
            match self.profile.keys.get(role) {
                Some(var) => format!("no {}: {var} is not set", role.label()),
                None => format!(
                    "the profile configures no {} (its `keys:` leave the role out)",
                    role.label()
                ),
            }
        })
    }

    /// The run's one HTTP client (a cheap handle): the preflight, the load phase and the
    /// probes share its TLS roots, connection pool and same-origin redirect rule.
    pub fn client(&self) -> reqwest::Client {
        self.client.clone()
    }

    /// The client of goose's load and the probes beside it: HTTP/1.1 unless `--http 2`
    /// asked for HTTP/2, so hundreds of requests in flight are hundreds of connections, not
    /// streams queued behind one connection's concurrency cap (100–128 at most fronts).
    pub fn load_client(&self) -> reqwest::Client {
        self.load_client.clone()
    }

    /// A new client built as [`Target::load_client`] is (same TLS trust, proxies and
    /// same-origin redirect rule), with a connection pool of its own.
    pub fn new_load_client(&self) -> reqwest::Client {
        load_client_for(&self.options)
    }

    /// The run's shared redactor: every key, and every `{{ env.NAME }}` value once read.
    pub fn redactor(&self) -> Redactor {
        self.redactor.clone()
    }
}

/// How the load phase's clients are built: the run's transport, HTTP/1.1 unless `--http 2`.
fn load_client_for(options: &Options) -> reqwest::Client {
    client::build(&options.transport.for_load())
}

/// The reference server a run started for itself; stopped when the run ends.
pub struct Embedded(crate::server::RunningServer);

impl Embedded {
    pub async fn stop(self) {
        let _ = self.0.stop().await;
    }
}

/// Starts the reference server `profile` names (on 127.0.0.1, a free port, fresh keys) and
/// returns the target that checks it.
pub async fn start_embedded(
    profile: Profile,
    options: Options,
) -> std::io::Result<(Target, Embedded)> {
    use crate::server::{KeyRing, RunningServer, ServerConfig};
    let ring = KeyRing::generate().with_generated_tenants(profile.tenants_needed());
    let mut config = ServerConfig::new(profile.reference, ring.clone());
    // The concurrency probe holds requests open through `delay_ms`.
    config.test_hooks = true;
    let server = RunningServer::start(config).await?;
    let target = Target::embedded(&server.base_url(), &ring, profile).with_options(options);
    Ok((target, Embedded(server)))
}

/// The tenant keys of a list, as credentials in order.
fn tenant_keys(list: &str) -> Vec<(Credential, Secret)> {
    crate::keys::tenant_list(list)
        .into_iter()
        .enumerate()
        .map(|(i, key)| (Credential::Tenant(i as u16), Secret::new(key)))
        .collect()
}

/// A key no server issued: random per run, so it cannot collide with a real one.
fn invalid_key() -> Secret {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random source is available");
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Secret::new(format!("tg_invalid_{hex}"))
}

/// The redactor of a run: every key, and the passwords in proxy URLs.
fn redactor(keys: &HashMap<Credential, Secret>, transport: &Transport) -> Redactor {
    let proxies = transport.proxies.passwords().into_iter().map(Secret::new);
    Redactor::new(keys.values().cloned().chain(proxies))
}
