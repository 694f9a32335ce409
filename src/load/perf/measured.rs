//! What a shard run with `--measure-only` writes (`measurements.json` beside its reports)
//! and `report merge` reads back: each workload's plan, and each request name's
//! measurements — the per-millisecond timeline of answers, and the latency histograms in
//! HdrHistogram's standard V2 encoding (base64), so the merge adds them bucket by bucket.
//!
//! The file arrives from another machine: every count, length and histogram header is
//! bounded before anything is allocated for it.

use std::time::{Duration, SystemTime};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use hdrhistogram::{Counter, Histogram};
use serde::{Deserialize, Serialize};

use crate::load::clock::ClockOffset;
use crate::load::latency_series::LatencySeries;
use crate::load::measurements::Measurements;
use crate::load::shard::unix_ms;
use crate::load::tenant_vars::CaptureTally;
use crate::load::timeline::{Bin, Timeline};

/// The value of `format`: a reader refuses any other.
pub const FORMAT: &str = "tollgate-measurements/1";
/// The file's name in a run's report folder.
pub const FILE_NAME: &str = "measurements.json";

/// One shard's file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardMeasurements {
    pub format: String,
    pub tool_version: String,
    pub run_id: String,
    /// The target's base URL (redacted).
    pub target: String,
    pub shard: ShardIndex,
    /// `--start-at`, RFC 3339.
    pub start_at: Option<String>,
    /// `--duration-scale` and `--max-rps`: with the profile, what the plan was made of.
    pub duration_scale: f64,
    pub max_rps: Option<f64>,
    pub workloads: Vec<WorkloadMeasured>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardIndex {
    pub index: u32,
    pub count: u32,
}

/// One workload as a shard ran it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadMeasured {
    pub workload: String,
    /// The schedule and the request names it was dealt to, in words: shards of one run
    /// planned the same, so the merge refuses files whose plans differ.
    pub plan: String,
    /// How late this shard claimed its first slot after the start instant.
    pub late_by_ms: Option<f64>,
    /// This shard's clock against the target's (`Date` headers): the merge compares the
    /// shards' clocks through it.
    pub clock: ClockOffset,
    pub parts: Vec<PartMeasured>,
}

/// One request name of a workload (or the noisy neighbour) and what it measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartMeasured {
    pub name: String,
    /// The rate class whose request it sends.
    pub class: String,
    pub keys: usize,
    pub neighbour: bool,
    /// Requests per second at the workload's 100%.
    pub rate: f64,
    pub measurements: MeasurementsFile,
    /// For a request name that captures: its 2xx answers that lacked a capture.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captures: Option<CaptureTally>,
}

/// `Measurements` as written.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeasurementsFile {
    /// When slot 0 was due, in Unix milliseconds.
    pub started_ms: Option<u64>,
    pub duration_ms: u64,
    pub scheduled: u64,
    pub finished: u64,
    /// `[ms, sent, accepted, limited, failed]` for every millisecond that sent a request,
    /// in order.
    pub timeline: Vec<[u64; 5]>,
    /// Latency from each slot's due time, in µs (HdrHistogram V2, base64).
    pub corrected: String,
    /// Latency from the actual send, in µs.
    pub service: String,
    /// How late each request went out after its slot was due, in µs.
    pub lag: String,
    pub per_second: SeriesFile,
    pub per_slice: Option<SeriesFile>,
}

/// A latency series: one V2 histogram per slice of `width_ms`, empty slices as "".
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeriesFile {
    pub width_ms: u64,
    pub slices: Vec<String>,
}

impl PartMeasured {
    pub fn new(
        plan: &super::plan::PartPlan,
        measurements: &Measurements,
        captures: Option<CaptureTally>,
    ) -> Self {
        PartMeasured {
            name: plan.name.clone(),
            class: plan.class.name.clone(),
            keys: plan.keys,
            neighbour: plan.neighbour,
            rate: plan.rate,
            measurements: MeasurementsFile::from_measurements(measurements),
            captures,
        }
    }
}

impl MeasurementsFile {
    pub fn from_measurements(m: &Measurements) -> Self {
        MeasurementsFile {
            started_ms: m.started_wall.map(unix_ms),
            duration_ms: m.duration.as_millis() as u64,
            scheduled: m.scheduled,
            finished: m.finished,
            timeline: m
                .timeline
                .bins()
                .iter()
                .enumerate()
                .filter(|(_, b)| b.sent > 0)
                .map(|(ms, b)| {
                    let n = u64::from;
                    [
                        ms as u64,
                        n(b.sent),
                        n(b.accepted),
                        n(b.limited),
                        n(b.failed),
                    ]
                })
                .collect(),
            corrected: encode(&m.corrected),
            service: encode(&m.service),
            lag: encode(&m.lag),
            per_second: SeriesFile::of(&m.per_second),
            per_slice: m.per_slice.as_ref().map(SeriesFile::of),
        }
    }

    pub fn to_measurements(&self) -> Result<Measurements, String> {
        let mut timeline = Timeline::default();
        let mut previous = None;
        for &[ms, sent, accepted, limited, failed] in &self.timeline {
            if previous.is_some_and(|p| p >= ms) {
                return Err(format!("the timeline is out of order at {ms} ms"));
            }
            previous = Some(ms);
            let count = |n: u64| u32::try_from(n).map_err(|_| format!("{n} requests in 1 ms"));
            let bin = Bin {
                sent: count(sent)?,
                accepted: count(accepted)?,
                limited: count(limited)?,
                failed: count(failed)?,
            };
            timeline.add_bin(ms, bin)?;
        }
        if self.finished > self.scheduled || self.scheduled > MAX_SLOTS {
            return Err(format!(
                "{} slots answered of {} scheduled",
                self.finished, self.scheduled
            ));
        }
        if self.duration_ms > MAX_DURATION_MS || self.started_ms.is_some_and(|ms| ms > LAST_MS) {
            return Err(format!(
                "a schedule of {} ms from {:?} ms: beyond any run",
                self.duration_ms, self.started_ms
            ));
        }
        Ok(Measurements {
            started_wall: self
                .started_ms
                .map(|ms| SystemTime::UNIX_EPOCH + Duration::from_millis(ms)),
            duration: Duration::from_millis(self.duration_ms),
            scheduled: self.scheduled,
            finished: self.finished,
            timeline,
            corrected: decode(&self.corrected, "corrected")?,
            service: decode(&self.service, "service")?,
            lag: decode(&self.lag, "lag")?,
            per_second: self.per_second.to_series()?,
            per_slice: self
                .per_slice
                .as_ref()
                .map(SeriesFile::to_series)
                .transpose()?,
        })
    }
}

impl SeriesFile {
    fn of(series: &LatencySeries) -> Self {
        SeriesFile {
            width_ms: series.width_ms(),
            slices: series
                .histograms()
                .iter()
                .map(|h| {
                    if h.is_empty() {
                        String::new()
                    } else {
                        encode(h)
                    }
                })
                .collect(),
        }
    }

    fn to_series(&self) -> Result<LatencySeries, String> {
        // Counted before any is decoded: each one is a histogram's worth of counters.
        if self.slices.len() > MAX_SLICES || !(1..=60_000).contains(&self.width_ms) {
            return Err(format!(
                "{} latency slices of {} ms: beyond any run",
                self.slices.len(),
                self.width_ms
            ));
        }
        let slices = self
            .slices
            .iter()
            .map(|text| match text.as_str() {
                "" => Ok(crate::load::latency_series::histogram()),
                text => decode(text, "latency slice"),
            })
            .collect::<Result<Vec<Histogram<u32>>, String>>()?;
        LatencySeries::from_histograms(self.width_ms, slices)
    }
}

fn encode<T: Counter>(histogram: &Histogram<T>) -> String {
    let mut bytes = Vec::new();
    V2Serializer::new()
        .serialize(histogram, &mut bytes)
        .expect("a histogram within its own bounds serialises");
    STANDARD.encode(bytes)
}

/// Bounds of a file read back, far beyond any run: slots of one shard's schedule, its
/// length (a workload is at most an hour, `--duration-scale` at most 20), its start (before
/// the year 9999, which RFC 3339 can write), and the slices of a latency series (as many as
/// `LatencySeries` keeps).
const MAX_SLOTS: u64 = 10_000_000_000;
const MAX_DURATION_MS: u64 = 20 * 3_600_000;
const LAST_MS: u64 = 253_402_214_400_000;
const MAX_SLICES: usize = 30 * 60;

/// The V2 header: cookie, payload length, normalising offset, significant digits, lowest
/// and highest trackable values, conversion ratio.
const V2_COOKIE: u32 = 0x1c84_9313;
const V2_HEADER: usize = 40;
/// The recorder's widest histogram: 1 µs to 120 s at 3 significant digits.
const HIGHEST_TRACKABLE: u64 = 120_000_000;
const MOST_DIGITS: u32 = 3;

/// A V2 histogram, its header checked against the recorder's bounds first: a hostile
/// header could otherwise ask for any number of counters.
fn decode<T: Counter>(text: &str, what: &str) -> Result<Histogram<T>, String> {
    let bad = |why: String| format!("the {what} histogram {why}");
    let bytes = STANDARD
        .decode(text)
        .map_err(|e| bad(format!("is not base64: {e}")))?;
    let header = bytes
        .get(..V2_HEADER)
        .ok_or_else(|| bad("is shorter than a V2 header".into()))?;
    let u32_at = |i: usize| u32::from_be_bytes(header[i..i + 4].try_into().expect("4 bytes"));
    let u64_at = |i: usize| u64::from_be_bytes(header[i..i + 8].try_into().expect("8 bytes"));
    if u32_at(0) != V2_COOKIE {
        return Err(bad(
            "is not in HdrHistogram's uncompressed V2 encoding".into()
        ));
    }
    let (payload, digits, lowest, highest) = (u32_at(4), u32_at(12), u64_at(16), u64_at(24));
    if payload as usize != bytes.len() - V2_HEADER
        || digits > MOST_DIGITS
        || lowest < 1
        || highest > HIGHEST_TRACKABLE
        || lowest >= highest
    {
        return Err(bad(format!(
            "is out of bounds ({digits} digits, {lowest}–{highest} µs, {payload} bytes)"
        )));
    }
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| bad(format!("cannot be read: {e:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured() -> Measurements {
        let mut m = Measurements {
            started_wall: Some(SystemTime::UNIX_EPOCH + Duration::from_millis(1_800_000_000_123)),
            duration: Duration::from_secs(2),
            scheduled: 300,
            finished: 299,
            timeline: Timeline::default(),
            corrected: Histogram::new_with_bounds(1, HIGHEST_TRACKABLE, 3).unwrap(),
            service: Histogram::new_with_bounds(1, HIGHEST_TRACKABLE, 3).unwrap(),
            lag: Histogram::new_with_bounds(1, HIGHEST_TRACKABLE, 3).unwrap(),
            per_second: LatencySeries::default(),
            per_slice: Some(LatencySeries::with_width(100)),
        };
        for k in 0..299u64 {
            let (sent, micros) = (k * 6, 150 + (k * 7_919) % 40_000);
            m.timeline.record(sent, [200, 429, 0][(k % 3) as usize]);
            m.corrected.record(micros).unwrap();
            m.service.record(micros / 2 + 1).unwrap();
            m.lag.record(k % 50 + 1).unwrap();
            m.per_second.record(sent, micros);
            m.per_slice.as_mut().unwrap().record(sent, micros);
        }
        m
    }

    #[test]
    fn measurements_read_back_exactly() {
        let m = measured();
        let file = MeasurementsFile::from_measurements(&m);
        let text = serde_json::to_string(&file).unwrap();
        let back: MeasurementsFile = serde_json::from_str(&text).unwrap();
        let back = back.to_measurements().unwrap();
        assert_eq!(back.timeline, m.timeline);
        assert_eq!(back.started_wall, m.started_wall);
        assert_eq!((back.scheduled, back.finished), (300, 299));
        for (a, b) in [
            (&back.corrected, &m.corrected),
            (&back.service, &m.service),
            (&back.lag, &m.lag),
        ] {
            assert_eq!(a, b);
        }
        assert_eq!(back.per_second.slices(), m.per_second.slices());
        let slices = |m: &Measurements| m.per_slice.as_ref().unwrap().slices();
        assert_eq!(slices(&back), slices(&m));
    }

    #[test]
    fn hostile_files_are_refused_not_allocated() {
        let good = MeasurementsFile::from_measurements(&measured());
        let refused = |change: &dyn Fn(&mut MeasurementsFile)| {
            let mut file = good.clone();
            change(&mut file);
            file.to_measurements().unwrap_err()
        };
        // A header asking for 1 to 2^62 at 5 digits: counters beyond any memory.
        let mut huge = STANDARD.decode(&good.corrected).unwrap();
        huge[12..16].copy_from_slice(&5u32.to_be_bytes());
        huge[24..32].copy_from_slice(&(1u64 << 62).to_be_bytes());
        let why = refused(&|f| f.corrected = STANDARD.encode(&huge));
        assert!(why.contains("out of bounds"), "{why}");
        let why = refused(&|f| f.lag = "not base64!".into());
        assert!(why.contains("not base64"), "{why}");
        let why = refused(&|f| f.timeline.push([u64::MAX, 1, 1, 0, 0]));
        assert!(why.contains("beyond"), "{why}");
        let why = refused(&|f| f.timeline.insert(1, [0, 1, 1, 0, 0]));
        assert!(why.contains("out of order"), "{why}");
        let why = refused(&|f| f.timeline[0] = [0, 1, 2, 0, 0]);
        assert!(why.contains("impossible"), "{why}");
        let why = refused(&|f| f.per_second.slices = vec![String::new(); 100_000]);
        assert!(why.contains("latency slices"), "{why}");
        let why = refused(&|f| f.duration_ms = u64::MAX);
        assert!(why.contains("beyond any run"), "{why}");
        let why = refused(&|f| f.started_ms = Some(u64::MAX));
        assert!(why.contains("beyond any run"), "{why}");
        let why = refused(&|f| f.scheduled = u64::MAX);
        assert!(why.contains("scheduled"), "{why}");
    }
}
