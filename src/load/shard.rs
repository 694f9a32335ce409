//! One process's share of a schedule run by several (`--shard I/N --start-at T`): shard `I`
//! sends the slots `k ≡ I (mod N)` of the drift-free schedule every shard computes from the
//! same start instant, so N processes on N machines together offer the asked rate with the
//! spacing one process would — k6's execution segments, on a schedule instead of a range.
//! A run without `--shard` is shard 0 of 1.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

/// Most shards one schedule is split into: beyond, each would send too few slots to pace.
pub const MAX_SHARDS: u32 = 1024;

/// How far ahead a start instant may be: a mistyped date must not park a CI job for a year.
pub const LONGEST_LEAD: Duration = Duration::from_secs(3600);

/// Which slots of a schedule this process sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// The whole schedule: a run without `--shard`.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    pub fn is_whole(&self) -> bool {
        self.count == 1
    }

    /// The `n`-th slot this shard sends.
    pub fn slot(&self, n: u64) -> u64 {
        n * u64::from(self.count) + u64::from(self.index)
    }

    /// How many of `total` slots this shard sends.
    pub fn share(&self, total: u64) -> u64 {
        let (index, count) = (u64::from(self.index), u64::from(self.count));
        total.saturating_sub(index).div_ceil(count)
    }
}

impl Default for Shard {
    fn default() -> Self {
        Shard::WHOLE
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = String;

    /// `I/N` with `0 ≤ I < N ≤ MAX_SHARDS`.
    fn from_str(text: &str) -> Result<Self, String> {
        let usage = || format!("`{text}` is not a shard: write I/N, for example 0/4 … 3/4");
        let (index, count) = text.trim().split_once('/').ok_or_else(usage)?;
        let index: u32 = index.trim().parse().map_err(|_| usage())?;
        let count: u32 = count.trim().parse().map_err(|_| usage())?;
        if count == 0 || count > MAX_SHARDS {
            return Err(format!(
                "shard `{text}`: N must be between 1 and {MAX_SHARDS}"
            ));
        }
        if index >= count {
            return Err(format!(
                "shard `{text}`: I counts from 0, so it must be below N ({count})"
            ));
        }
        Ok(Shard { index, count })
    }
}

/// `at` in milliseconds since the Unix epoch (0 before it): how instants travel between
/// processes and files, and the clock the reference server's arrival counter keys on.
pub fn unix_ms(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// An RFC 3339 instant for `--start-at`: `2026-12-03T14:00:00Z`, or with an offset as
/// `date -Iseconds` prints it (`2026-12-03T15:00:00+01:00`); fractions of a second allowed.
/// The zone is required: one read as UTC on one machine and as local time on another would
/// start the shards hours apart.
pub fn parse_instant(text: &str) -> Result<SystemTime, String> {
    let invalid = |why: String| {
        format!(
            "`{text}` is not an RFC 3339 instant ({why}): write, for example, \
             2026-12-03T14:00:00Z or 2026-12-03T15:00:00+01:00"
        )
    };
    let (local, east) =
        split_zone(text.trim()).ok_or_else(|| invalid("no zone: Z or ±HH:MM".into()))?;
    let as_utc = humantime::parse_rfc3339_weak(local).map_err(|e| invalid(e.to_string()))?;
    let offset = Duration::from_secs(east.unsigned_abs());
    let instant = if east >= 0 {
        as_utc.checked_sub(offset)
    } else {
        as_utc.checked_add(offset)
    };
    instant.ok_or_else(|| invalid("out of range".into()))
}

/// The instant without its zone, and the zone's offset east of UTC in seconds.
fn split_zone(text: &str) -> Option<(&str, i64)> {
    if let Some(local) = text.strip_suffix(['Z', 'z']) {
        return Some((local, 0));
    }
    let cut = text.len().checked_sub(6)?;
    if !text.is_char_boundary(cut) {
        return None;
    }
    let (local, zone) = text.split_at(cut);
    let (sign, hours_minutes) = zone.split_at(1);
    let (hours, minutes) = hours_minutes.split_once(':')?;
    let digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(hours) || !digits(minutes) {
        return None;
    }
    let offset = hours.parse::<i64>().ok()? * 3600 + minutes.parse::<i64>().ok()? * 60;
    match sign {
        "+" => Some((local, offset)),
        "-" => Some((local, -offset)),
        _ => None,
    }
}

/// Why `start` cannot begin a run now, if it cannot: already past, or too far ahead.
pub fn check_start(start: SystemTime, now: SystemTime) -> Result<(), String> {
    let shown = humantime::format_rfc3339_millis(start);
    match start.duration_since(now) {
        Err(past) => Err(format!(
            "--start-at {shown} is {:.1} s in the past: give every shard an instant a few \
             seconds ahead",
            past.duration().as_secs_f64()
        )),
        Ok(lead) if lead > LONGEST_LEAD => Err(format!(
            "--start-at {shown} is {} ahead; at most {} is allowed",
            humantime::format_duration(Duration::from_secs(lead.as_secs())),
            humantime::format_duration(LONGEST_LEAD)
        )),
        Ok(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_split_every_slot_exactly_once() {
        for count in 1..=7u32 {
            for total in [0u64, 1, 5, 6, 7, 100, 101] {
                let mut seen = vec![0u32; total as usize];
                let mut shares = 0;
                for index in 0..count {
                    let shard = Shard { index, count };
                    let share = shard.share(total);
                    shares += share;
                    for n in 0..share {
                        seen[shard.slot(n) as usize] += 1;
                    }
                    assert!(shard.slot(share) >= total, "{shard} of {total}");
                }
                assert_eq!(shares, total);
                assert!(seen.iter().all(|&s| s == 1), "{count} shards of {total}");
            }
        }
    }

    #[test]
    fn shard_arguments_are_checked() {
        assert_eq!("2/4".parse(), Ok(Shard { index: 2, count: 4 }));
        assert_eq!("0/1".parse(), Ok(Shard::WHOLE));
        for bad in ["4/4", "1/0", "a/4", "3", "-1/4", "0/1025", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        assert_eq!(
            "4/4".parse::<Shard>().unwrap_err(),
            "shard `4/4`: I counts from 0, so it must be below N (4)"
        );
    }

    #[test]
    fn start_instants_are_bounded() {
        let now = parse_instant("2026-12-03T14:00:00Z").unwrap();
        assert!(check_start(now + Duration::from_secs(5), now).is_ok());
        let past = check_start(now - Duration::from_millis(1500), now).unwrap_err();
        assert!(past.contains("is 1.5 s in the past"), "{past}");
        let far = check_start(now + Duration::from_secs(7200), now).unwrap_err();
        assert!(far.contains("2h ahead; at most 1h"), "{far}");
        assert!(parse_instant("tomorrow").is_err());
        assert_eq!(
            parse_instant("2026-12-03T14:00:00.250Z").unwrap(),
            now + Duration::from_millis(250)
        );
        assert_eq!(parse_instant("2026-12-03T15:00:00+01:00").unwrap(), now);
        assert_eq!(parse_instant("2026-12-03T09:30:00-04:30").unwrap(), now);
        let unzoned = parse_instant("2026-12-03T14:00:00").unwrap_err();
        assert!(unzoned.contains("no zone"), "{unzoned}");
        for bad in [
            "2026-12-03T14:00:00+1:00",
            "",
            "é",
            "2026-12-03T14:00:00+0é:00",
        ] {
            assert!(parse_instant(bad).is_err(), "{bad}");
        }
    }
}
