//! Performance workloads (a profile's `workloads:`): how many tenants, which rate classes'
//! requests in which mix, the stages of the offered rate, the thresholds each request name
//! must keep, and an optional noisy neighbour.
//!
//! Every tenant is kept inside its own published limits: a mix that would drive one tenant
//! past a class's limit at the workload's peak is refused when the profile is read, so a
//! workload measures the API, never its limiter.

use std::time::Duration;

use crate::decode::Decoder;
use crate::scenario::parse::{captures, parse_request};
use crate::scenario::template::{json_variables, UNIQUE};
use crate::scenario::{Capture, Origin, RequestSpec};
use crate::yaml::{Node, Value};

const WORKLOAD: &[&str] = &["tenants", "stages", "mix", "thresholds", "noisy_neighbour"];
const STAGE: &[&str] = &["ramp", "hold", "to"];
const NOISY: &[&str] = &["class", "factor"];
const STEP: &[&str] = &["class", "rate", "request", "capture", "cleanup"];
const METRICS: &[&str] = &["p50", "p90", "p95", "p99", "max", "errors", "limited"];

/// The request name of the noisy neighbour's part: no mix entry may take it.
pub const NEIGHBOUR: &str = "noisy-neighbour";
/// The most tenants one workload drives (each is a key and an account).
pub const MAX_TENANTS: u64 = 1000;
/// The longest workload: a performance report, not a soak test.
const MAX_DURATION: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone)]
pub struct Workload {
    pub name: String,
    pub origin: Origin,
    pub tenants: u16,
    /// Consecutive stages from 0% of the mix's rate.
    pub stages: Vec<Stage>,
    pub mix: Vec<MixEntry>,
    pub thresholds: Vec<Threshold>,
    pub noisy_neighbour: Option<NoisyNeighbour>,
}

/// One stage: the offered rate goes linearly to `to` (a fraction of the mix's rate) over
/// `duration`; a hold keeps the level it starts at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stage {
    pub duration: Duration,
    pub to: f64,
}

/// One request name of the mix, at `per_tenant` requests per second for each tenant at
/// 100%: a rate class's probe, or a step of its own counted against a class's limit.
#[derive(Debug, Clone)]
pub struct MixEntry {
    /// The request name in reports, thresholds and check ids.
    pub name: String,
    /// The rate class whose published limit the entry counts against.
    pub class: String,
    pub per_tenant: f64,
    /// A request of its own (`None`: the class's probe).
    pub step: Option<MixStep>,
}

/// A mix entry written as a scenario step: its request, what each tenant captures from its
/// answers (a create feeding a read), and how to delete what it created.
#[derive(Debug, Clone)]
pub struct MixStep {
    pub request: RequestSpec,
    pub capture: Vec<Capture>,
    pub cleanup: Option<RequestSpec>,
    /// The captured names its request reads: each tenant captures them (from earlier
    /// entries) before the schedule starts, so no slot waits for a create.
    pub reads: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    P50,
    P90,
    P95,
    P99,
    Max,
    /// Answers that are neither 2xx nor 429, and requests with no answer, as a fraction.
    Errors,
    /// 429 answers, as a fraction.
    Limited,
}

impl Metric {
    pub fn name(self) -> &'static str {
        match self {
            Metric::P50 => "p50",
            Metric::P90 => "p90",
            Metric::P95 => "p95",
            Metric::P99 => "p99",
            Metric::Max => "max",
            Metric::Errors => "errors",
            Metric::Limited => "limited",
        }
    }

    /// A latency (bound in milliseconds) or a fraction of requests.
    pub fn is_latency(self) -> bool {
        !matches!(self, Metric::Errors | Metric::Limited)
    }

    fn parse(name: &str) -> Metric {
        match name {
            "p50" => Metric::P50,
            "p90" => Metric::P90,
            "p95" => Metric::P95,
            "p99" => Metric::P99,
            "max" => Metric::Max,
            "errors" => Metric::Errors,
            _ => Metric::Limited,
        }
    }
}

/// `p95 ≤ 250 ms` for one request name, or for the whole workload (`request: None`).
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    pub request: Option<String>,
    pub metric: Metric,
    /// Milliseconds for latencies, a fraction in [0, 1] for rates.
    pub bound: f64,
    pub origin: Origin,
}

/// One more key (the primary) driven at `factor` × the class's limit at the workload's
/// peak, while the tenants run.
#[derive(Debug, Clone, PartialEq)]
pub struct NoisyNeighbour {
    pub class: String,
    pub factor: f64,
    pub origin: Origin,
}

impl Workload {
    /// The peak of the stages, as a fraction of the mix's rate.
    pub fn peak(&self) -> f64 {
        self.stages.iter().map(|s| s.to).fold(0.0, f64::max)
    }

    pub fn duration(&self) -> Duration {
        self.stages.iter().map(|s| s.duration).sum()
    }

    /// The tenants' requests per second at 100%, all classes together.
    pub fn nominal_rate(&self) -> f64 {
        self.mix.iter().map(|m| m.per_tenant).sum::<f64>() * f64::from(self.tenants)
    }
}

/// A rate class as a workload sees it: its name and its published limit per second.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassLimit {
    pub name: String,
    pub per_second: f64,
}

/// Reads `workloads:`, holding each mix to the profile's rate classes `classes`.
pub fn decode(node: &Node, classes: &[ClassLimit], dec: &mut Decoder) -> Vec<Workload> {
    let mut workloads = Vec::new();
    for (name, key, value) in dec.string_map(node, "`workloads`") {
        if !id_safe(&name) {
            dec.error(
                key,
                format!(
                    "workload name `{name}` may hold only letters, digits, `-` and `_` (it \
                    is part of check ids)"
                ),
            );
            continue;
        }
        if let Some(workload) = decode_one(&name, value, classes, dec) {
            workloads.push(workload);
        }
    }
    workloads
}

/// Letters, digits, `-` and `_`: safe inside a check id.
fn id_safe(name: &str) -> bool {
    name.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn origin(node: &Node, dec: &Decoder) -> Origin {
    Origin {
        file: dec.file.clone(),
        line: node.pos.line,
        col: node.pos.col,
    }
}

fn decode_one(
    name: &str,
    node: &Node,
    classes: &[ClassLimit],
    dec: &mut Decoder,
) -> Option<Workload> {
    let what = format!("workload `{name}`");
    let fields = dec.fields(node, &what, WORKLOAD, &["tenants", "stages", "mix"])?;
    let tenants = fields.get("tenants").and_then(|n| {
        let count = dec.uint(n, "`tenants`")?;
        if !(1..=MAX_TENANTS).contains(&count) {
            dec.error(
                n,
                format!("`tenants` must be 1 to {MAX_TENANTS}, found {count}"),
            );
            return None;
        }
        Some(count as u16)
    });
    let stages = fields.get("stages").and_then(|n| stages(n, dec));
    let mix = fields.get("mix").and_then(|n| mix(n, classes, dec));
    let thresholds = fields
        .get("thresholds")
        .map(|n| thresholds(n, mix.as_deref(), dec))
        .unwrap_or_default();
    let noisy_neighbour = fields
        .get("noisy_neighbour")
        .and_then(|n| noisy(n, classes, dec));
    let workload = Workload {
        name: name.to_string(),
        origin: origin(node, dec),
        tenants: tenants?,
        stages: stages?,
        mix: mix?,
        thresholds,
        noisy_neighbour,
    };
    within_limits(&workload, fields.get("mix")?, classes, dec).then_some(workload)
}

/// Each tenant's rate on each class at the peak, all its entries together, stays inside the
/// class's published limit.
fn within_limits(
    workload: &Workload,
    at: &Node,
    classes: &[ClassLimit],
    dec: &mut Decoder,
) -> bool {
    let mut ok = true;
    for class in classes {
        let entries: Vec<&MixEntry> = workload
            .mix
            .iter()
            .filter(|m| m.class == class.name)
            .collect();
        let Some(last) = entries.last() else {
            continue;
        };
        let limit = class.per_second;
        let peak = entries.iter().map(|m| m.per_tenant).sum::<f64>() * workload.peak();
        if peak > limit * (1.0 + 1e-9) {
            let names: Vec<&str> = entries.iter().map(|m| m.name.as_str()).collect();
            let together = match names.as_slice() {
                [_] => String::new(),
                _ => format!(" ({} together)", names.join(", ")),
            };
            dec.error_with_help(
                // A step's own rate, or the class entry's.
                entry_value(at, &last.name)
                    .map(|n| entry_value(n, "rate").unwrap_or(n))
                    .unwrap_or(at),
                format!(
                    "at its peak ({:.0}%) workload `{}` drives each tenant at {peak:.1}/s on \
                        `{}`{together}, over its published {limit}/s",
                    workload.peak() * 100.0,
                    workload.name,
                    class.name
                ),
                "a workload measures the API, not its limiter: lower the mix or the stages, or \
                    add tenants",
            );
            ok = false;
        }
    }
    ok
}

/// The key and value nodes of `key` in the mapping `map`.
fn entry<'n>(map: &'n Node, key: &str) -> Option<(&'n Node, &'n Node)> {
    let Value::Map(entries) = &map.value else {
        return None;
    };
    entries
        .iter()
        .find(|(k, _)| k.as_str() == Some(key))
        .map(|(k, v)| (k, v))
}

/// The key node of `key` in the mapping `map` (where an unwanted key is pointed at).
fn entry_key<'n>(map: &'n Node, key: &str) -> Option<&'n Node> {
    entry(map, key).map(|(k, _)| k)
}

/// The value node of `key` in the mapping `map`.
fn entry_value<'n>(map: &'n Node, key: &str) -> Option<&'n Node> {
    entry(map, key).map(|(_, v)| v)
}

fn duration(node: &Node, what: &str, dec: &mut Decoder) -> Option<Duration> {
    let text = dec.scalar(node, what)?;
    match humantime::parse_duration(&text) {
        Ok(d) => Some(d),
        Err(e) => {
            dec.error_with_help(
                node,
                format!("{what}: `{text}` is not a duration ({e})"),
                "e.g. 500ms, 10s, 2m",
            );
            None
        }
    }
}

/// `80%` → 0.8.
fn percent(node: &Node, what: &str, dec: &mut Decoder) -> Option<f64> {
    let text = dec.scalar(node, what)?;
    let value = text
        .strip_suffix('%')
        .and_then(|n| n.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v >= 0.0);
    if value.is_none() {
        dec.error_with_help(
            node,
            format!("{what} must be a percentage, found `{text}`"),
            "e.g. 80%",
        );
    }
    value.map(|v| v / 100.0)
}

fn stages(node: &Node, dec: &mut Decoder) -> Option<Vec<Stage>> {
    let items = dec.list(node, "`stages`")?;
    let mut stages = Vec::new();
    let mut level = 0.0;
    let mut ok = true;
    for item in items {
        let Some(fields) = dec.fields(item, "a stage", STAGE, &[]) else {
            ok = false;
            continue;
        };
        let stage = match (fields.get("ramp"), fields.get("hold"), fields.get("to")) {
            (Some(ramp), None, Some(to)) => duration(ramp, "`ramp`", dec)
                .zip(percent(to, "`to`", dec))
                .map(|(duration, to)| Stage { duration, to }),
            (None, Some(hold), None) => duration(hold, "`hold`", dec).map(|duration| Stage {
                duration,
                to: level,
            }),
            _ => {
                dec.error_with_help(
                    item,
                    "a stage is either `{ ramp: <duration>, to: <percent> }` or `{ hold: \
                        <duration> }`",
                    "e.g. { ramp: 10s, to: 100% }, then { hold: 30s }",
                );
                None
            }
        };
        match stage {
            Some(stage) => {
                level = stage.to;
                stages.push(stage);
            }
            None => ok = false,
        }
    }
    let total: Duration = stages.iter().map(|s| s.duration).sum();
    if ok && (stages.iter().all(|s| s.to == 0.0) || total.is_zero()) {
        dec.error_with_help(
            node,
            "these stages never offer a request",
            "ramp up first, e.g. { ramp: 10s, to: 100% }",
        );
        return None;
    }
    if total > MAX_DURATION {
        dec.error(
            node,
            format!(
                "the stages last {}; a workload lasts at most an hour",
                humantime::format_duration(total)
            ),
        );
        return None;
    }
    ok.then_some(stages)
}

fn mix(node: &Node, classes: &[ClassLimit], dec: &mut Decoder) -> Option<Vec<MixEntry>> {
    let mut entries: Vec<MixEntry> = Vec::new();
    let mut ok = true;
    for (name, key, value) in dec.string_map(node, "`mix`") {
        let entry = match value.value {
            Value::Map(_) => step_entry(&name, key, value, &entries, classes, dec),
            _ => class_entry(&name, key, value, classes, dec),
        };
        match entry {
            Some(entry) => entries.push(entry),
            None => ok = false,
        }
    }
    if ok && entries.is_empty() {
        dec.error(node, "`mix` names no request");
        return None;
    }
    ok.then_some(entries)
}

/// `read: 80%`: the class's own probe.
fn class_entry(
    name: &str,
    key: &Node,
    value: &Node,
    classes: &[ClassLimit],
    dec: &mut Decoder,
) -> Option<MixEntry> {
    let Some(class) = classes.iter().find(|c| c.name == name) else {
        let names: Vec<&str> = classes.iter().map(|c| c.name.as_str()).collect();
        dec.error_with_help(
            key,
            format!("`mix` names `{name}`, which is not a rate class of this profile"),
            format!(
                "rate classes: {}; or give a step of its own: `{{ class, rate, request }}`",
                names.join(", ")
            ),
        );
        return None;
    };
    Some(MixEntry {
        name: name.to_string(),
        class: name.to_string(),
        per_tenant: mix_rate(value, &format!("mix.{name}"), class, dec)?,
        step: None,
    })
}

/// Each tenant's rate of one entry at 100%: `80/s`, or `80%` of its class's limit.
fn mix_rate(node: &Node, what: &str, class: &ClassLimit, dec: &mut Decoder) -> Option<f64> {
    let text = dec.scalar(node, "a mix rate").unwrap_or_default();
    let per_tenant = if text.ends_with('%') {
        percent(node, "a mix rate", dec).map(|f| f * class.per_second)
    } else {
        let rate = text.parse::<crate::limits::Policy>().ok();
        if rate.is_none() {
            let message =
                format!("`{what}` must be a rate or a share of the class's limit, found `{text}`");
            let help = "each tenant's requests at 100%: e.g. 80/s, or 80% of the class's limit";
            dec.error_with_help(node, message, help);
        }
        rate.map(|p| p.per_second())
    };
    if per_tenant == Some(0.0) {
        dec.error_with_help(
            node,
            format!("`{what}` is 0: the entry would never be sent"),
            "remove the entry, or give it a share",
        );
        return None;
    }
    per_tenant
}

/// `new-file: { class, rate, request, capture, cleanup }`: a step of its own, which may
/// read what `earlier` entries capture.
fn step_entry(
    name: &str,
    key: &Node,
    node: &Node,
    earlier: &[MixEntry],
    classes: &[ClassLimit],
    dec: &mut Decoder,
) -> Option<MixEntry> {
    let what = format!("mix step `{name}`");
    let fields = dec.fields(node, &what, STEP, &["class", "rate", "request"])?;
    step_name_is_free(name, key, classes, dec)?;
    let class_node = fields.get("class")?;
    let class_name = dec.string(class_node, "`class`")?;
    let Some(class) = classes.iter().find(|c| c.name == class_name) else {
        let names: Vec<&str> = classes.iter().map(|c| c.name.as_str()).collect();
        dec.error_with_help(
            class_node,
            format!(
                "`{name}.class` names `{class_name}`, which is not a rate class of this profile"
            ),
            format!("the limit it counts against, one of: {}", names.join(", ")),
        );
        return None;
    };
    let per_tenant = mix_rate(fields.get("rate")?, &format!("mix.{name}.rate"), class, dec);
    let request_node = fields.get("request")?;
    if let Some(auth) = entry_key(request_node, "auth") {
        dec.error(
            auth,
            "a workload step is sent with each tenant's own key: drop `auth`",
        );
        return None;
    }
    let captured: Vec<&str> = earlier
        .iter()
        .filter_map(|e| e.step.as_ref())
        .flat_map(|s| s.capture.iter().map(|c| c.name.as_str()))
        .collect();
    let request = parse_request(request_node, dec, &captured);
    let capture = fields
        .get("capture")
        .map(|n| captures(n, dec))
        .unwrap_or_default();
    let capture_node = fields.get("capture");
    for c in &capture {
        let problem = if UNIQUE.contains(&c.name.as_str()) {
            format!(
                "`{}` is a generated value: capture under another name",
                c.name
            )
        } else if captured.contains(&c.name.as_str()) {
            format!("`{}` is captured by an earlier entry", c.name)
        } else {
            continue;
        };
        let at = capture_node
            .and_then(|n| entry_key(n, &c.name))
            .unwrap_or(node);
        dec.error(at, problem);
        return None;
    }
    let cleanup = match fields.get("cleanup") {
        Some(n) => Some(parse_request(n, dec, &["id"])?),
        None => None,
    };
    let request = request?;
    let reads = reads(&request, &captured);
    Some(MixEntry {
        name: name.to_string(),
        class: class_name,
        per_tenant: per_tenant?,
        step: Some(MixStep {
            request,
            capture,
            cleanup,
            reads,
        }),
    })
}

/// A step's name is a request name of its own: not a rate class's, nor a reserved one.
fn step_name_is_free(
    name: &str,
    key: &Node,
    classes: &[ClassLimit],
    dec: &mut Decoder,
) -> Option<()> {
    let reserved = name == "all" || name == NEIGHBOUR;
    let class = classes.iter().any(|c| c.name == name);
    let problem = if reserved {
        format!("`{name}` is reserved (thresholds' `all`, the noisy neighbour's part)")
    } else if class {
        format!("`{name}` is a rate class: a step of its own needs a name of its own")
    } else if !id_safe(name) {
        format!(
            "mix step `{name}` may hold only letters, digits, `-` and `_` (it is part of check \
             ids)"
        )
    } else {
        return Some(());
    };
    dec.error(key, problem);
    None
}

/// The names of `captured` that `request` reads.
fn reads(request: &RequestSpec, captured: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = request.path.variables().map(str::to_string).collect();
    for (_, t) in request.query.iter().chain(&request.headers) {
        names.extend(t.variables().map(str::to_string));
    }
    if let Some(json) = &request.json {
        names.extend(json_variables(json).unwrap_or_default());
    }
    names.retain(|n| captured.contains(&n.as_str()));
    names.sort();
    names.dedup();
    names
}

/// The thresholds; request names are held to `mix` when it could be read.
fn thresholds(node: &Node, mix: Option<&[MixEntry]>, dec: &mut Decoder) -> Vec<Threshold> {
    let mut out = Vec::new();
    for (name, key, value) in dec.string_map(node, "`thresholds`") {
        let request = if name == "all" {
            None
        } else if mix.is_none_or(|mix| mix.iter().any(|m| m.name == name)) {
            Some(name.clone())
        } else {
            let mix = mix.unwrap_or_default();
            let names: Vec<&str> = mix.iter().map(|m| m.name.as_str()).collect();
            dec.error_with_help(
                key,
                format!("`thresholds` names `{name}`, which is not in the workload's mix"),
                format!("`all` or one of: {}", names.join(", ")),
            );
            continue;
        };
        let what = format!("`thresholds.{name}`");
        let Some(fields) = dec.fields(value, &what, METRICS, &[]) else {
            continue;
        };
        for (metric_name, _, bound_node) in fields.entries() {
            let metric = Metric::parse(metric_name);
            let what = format!("`{name}.{metric_name}`");
            let bound = if metric.is_latency() {
                duration(bound_node, &what, dec).map(|d| d.as_secs_f64() * 1000.0)
            } else {
                percent(bound_node, &what, dec).filter(|f| {
                    let ok = *f <= 1.0;
                    if !ok {
                        dec.error(
                            bound_node,
                            format!("{what} is a share of requests: at most 100%"),
                        );
                    }
                    ok
                })
            };
            if let Some(bound) = bound {
                out.push(Threshold {
                    request: request.clone(),
                    metric,
                    bound,
                    origin: origin(bound_node, dec),
                });
            }
        }
    }
    out
}

fn noisy(node: &Node, classes: &[ClassLimit], dec: &mut Decoder) -> Option<NoisyNeighbour> {
    let fields = dec.fields(node, "`noisy_neighbour`", NOISY, &["class"])?;
    let class_node = fields.get("class")?;
    let class = dec.string(class_node, "`noisy_neighbour.class`")?;
    if !classes.iter().any(|c| c.name == class) {
        dec.error(
            class_node,
            format!(
                "`noisy_neighbour.class` names `{class}`, which is not a rate class of this \
                profile"
            ),
        );
        return None;
    }
    let factor = match fields.get("factor") {
        None => 2.0,
        Some(n) => match n.value {
            Value::Int(i) if (2..=100).contains(&i) => i as f64,
            Value::Float(f) if f > 1.0 && f <= 100.0 => f,
            _ => {
                dec.error_with_help(
                    n,
                    "`noisy_neighbour.factor` must be a multiple of the limit above 1",
                    "e.g. 2 drives the neighbour at twice its limit",
                );
                return None;
            }
        },
    };
    Some(NoisyNeighbour {
        class,
        factor,
        origin: origin(node, dec),
    })
}
