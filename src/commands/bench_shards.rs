//! `tollgate bench --shards N`: a pacing or workload run sent by N processes of this binary
//! (`bench --shard I/N --start-at T`), each its share of one schedule from one instant; the
//! parent counts what the server saw.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

use crate::error::Error;
use crate::keys::KeyRole;
use crate::load::perf::measured::WorkloadMeasured;
use crate::load::shard::Shard;

/// The server the shards load, and its keys (handed over in their environment, never their
/// arguments).
pub(super) struct ShardRun<'a> {
    pub(super) url: &'a str,
    pub(super) key: &'a str,
    pub(super) tenants: &'a str,
}

/// How a pacing or workload run is spread over processes.
pub(super) struct Sharding {
    /// This process is one shard of a sharded benchmark: it sends its share and counts
    /// nothing (its parent counts).
    pub(super) part: Option<(Shard, SystemTime)>,
    /// Processes the runs are spread over (1: this one sends everything).
    pub(super) processes: u32,
    /// The profile the shard processes read.
    pub(super) profile: PathBuf,
}

impl Sharding {
    /// What a table's heading adds when its runs were sharded.
    pub(super) fn heading(&self) -> String {
        match self.processes {
            1 => String::new(),
            n => format!(", sent by {n} shard processes from one start instant"),
        }
    }
}

/// How far ahead of now shard processes are told to start: time to start a process, build
/// its clients and measure the target's answer time.
const SHARD_LEAD: Duration = Duration::from_secs(4);

impl Sharding {
    /// One `kind` run at `rate` for `seconds`, sent by `--shards` processes of this binary
    /// (`bench --shard I/N --start-at T`, keys in their environment); when the shards
    /// started it (ms since the epoch).
    pub(super) async fn run(
        &self,
        server: &ShardRun<'_>,
        kind: &str,
        rate: f64,
        seconds: u64,
    ) -> Result<(u64, Vec<String>), Error> {
        let exe = std::env::current_exe()
            .map_err(|e| Error::Runtime(format!("cannot find our own binary: {e}")))?;
        let start = SystemTime::now() + SHARD_LEAD;
        let start_ms = crate::load::shard::unix_ms(start);
        let total = self.processes;
        let mut children = Vec::new();
        for index in 0..total {
            let child = Command::new(&exe)
                .arg("bench")
                .args(["--target", server.url])
                .arg("--profile")
                .arg(&self.profile)
                .args(["--only", kind, "--seconds", &seconds.to_string()])
                .args([
                    "--rates",
                    &rate.to_string(),
                    "--workload-rate",
                    &rate.to_string(),
                ])
                .args(["--shard", &format!("{index}/{total}")])
                .args([
                    "--start-at",
                    &humantime::format_rfc3339_millis(start).to_string(),
                ])
                .env(KeyRole::Primary.env_var(), server.key)
                .env(crate::keys::TENANT_KEYS_VAR, server.tenants)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| Error::Runtime(format!("cannot start shard {index}/{total}: {e}")))?;
            children.push(child);
        }
        let outputs = tokio::task::spawn_blocking(move || {
            children
                .into_iter()
                .map(Child::wait_with_output)
                .collect::<Vec<_>>()
        })
        .await
        .map_err(|e| Error::Runtime(format!("waiting for the shards: {e}")))?;
        let mut said = Vec::new();
        for (index, output) in outputs.into_iter().enumerate() {
            let output = output
                .map_err(|e| Error::Runtime(format!("shard {index}/{total} vanished: {e}")))?;
            if !output.status.success() {
                let said = String::from_utf8_lossy(&output.stderr);
                return Err(Error::Runtime(format!(
                    "shard {index}/{total} failed ({}): {}",
                    output.status,
                    said.trim()
                )));
            }
            let text = String::from_utf8_lossy(&output.stdout);
            said.extend(
                text.lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(str::to_string),
            );
        }
        Ok((start_ms, said))
    }
}

/// How a shard process hands its requests per second to the parent (one stdout line).
pub(super) const SENT_PER_SECOND: &str = "sent per second: ";

/// Requests per whole second of the schedule, every request name's timeline added up.
pub(super) fn sent_per_second(measured: &[WorkloadMeasured]) -> Vec<u64> {
    let mut seconds: Vec<u64> = Vec::new();
    let parts = measured.iter().flat_map(|w| &w.parts);
    for &[ms, sent, ..] in parts.flat_map(|p| &p.measurements.timeline) {
        let second = (ms / 1000) as usize;
        if seconds.len() <= second {
            seconds.resize(second + 1, 0);
        }
        seconds[second] += sent;
    }
    seconds
}

/// The shards' requests per second added up (what `report merge` adds, second by second),
/// and the rest of what they said.
pub(super) fn merged_sends(said: Vec<String>) -> (Vec<u64>, Vec<String>) {
    let mut sum: Vec<u64> = Vec::new();
    let mut rest = Vec::new();
    for line in said {
        match line.strip_prefix(SENT_PER_SECOND) {
            Some(counts) => {
                for (i, n) in counts.split_whitespace().enumerate() {
                    if sum.len() <= i {
                        sum.resize(i + 1, 0);
                    }
                    sum[i] += n.parse::<u64>().unwrap_or(0);
                }
            }
            None => rest.push(line),
        }
    }
    (sum, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shards_sends_add_up_second_by_second() {
        let said = vec![
            format!("{SENT_PER_SECOND}100 99 101"),
            "shard 1/2 started 3 ms late".to_string(),
            format!("{SENT_PER_SECOND}100 101"),
        ];
        let (sum, rest) = merged_sends(said);
        assert_eq!(sum, [200, 200, 101]);
        assert_eq!(rest, ["shard 1/2 started 3 ms late"]);
    }
}
