//! Which key sends which request of a workload's schedule.
//!
//! A workload's requests come in groups (one per request name of the mix, and the noisy
//! neighbour), each with a share of the schedule and members (its keys). Slots are dealt to
//! groups by smooth weighted round robin (nginx's), so each group's slots are spread evenly
//! through the schedule; within a group they go to its members in turn, so every tenant
//! gets its requests of one name evenly spaced at exactly its share — never a burst that
//! would meet its limiter. The routing is a pure function of the slot number: goose's users
//! claim slots in any order and still send the same plan.

/// The most positions in one period of the pattern; finer shares are rounded.
const MAX_PERIOD: u64 = 100_000;

/// One group: how much of the schedule it gets, and how many keys share it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Group {
    /// Requests per second at the workload's 100% (any unit: only ratios count).
    pub weight: f64,
    pub members: u32,
}

/// The slot → (group, member) map of one workload.
#[derive(Debug, Clone)]
pub struct Routing {
    /// The group of each position of one period.
    pattern: Vec<u32>,
    /// How many earlier positions of the period hold the same group.
    earlier: Vec<u64>,
    /// Positions per period held by each group.
    per_period: Vec<u64>,
    members: Vec<u32>,
    /// The index of each group's first lane (lanes are numbered group by group).
    first_lane: Vec<usize>,
}

impl Routing {
    /// Groups must be non-empty with positive weights and at least one member each.
    pub fn new(groups: &[Group]) -> Routing {
        let weights = integer_weights(groups);
        let total: u64 = weights.iter().sum();
        let mut current = vec![0i64; groups.len()];
        let mut pattern = Vec::with_capacity(total as usize);
        let mut earlier = Vec::with_capacity(total as usize);
        let mut seen = vec![0u64; groups.len()];
        for _ in 0..total {
            for (c, w) in current.iter_mut().zip(&weights) {
                *c += *w as i64;
            }
            let pick = (0..groups.len())
                .max_by_key(|&g| (current[g], std::cmp::Reverse(g)))
                .expect("at least one group");
            current[pick] -= total as i64;
            pattern.push(pick as u32);
            earlier.push(seen[pick]);
            seen[pick] += 1;
        }
        let mut first_lane = Vec::with_capacity(groups.len());
        let mut next = 0;
        for group in groups {
            first_lane.push(next);
            next += group.members as usize;
        }
        Routing {
            pattern,
            earlier,
            per_period: weights,
            members: groups.iter().map(|g| g.members).collect(),
            first_lane,
        }
    }

    /// The group and member that send slot `k`.
    pub fn route(&self, k: u64) -> (usize, u32) {
        let period = self.pattern.len() as u64;
        let (cycle, position) = (k / period, (k % period) as usize);
        let group = self.pattern[position] as usize;
        let occurrence = cycle * self.per_period[group] + self.earlier[position];
        (group, (occurrence % u64::from(self.members[group])) as u32)
    }

    /// The lane of slot `k`: lanes are numbered group by group, member by member.
    pub fn lane(&self, k: u64) -> usize {
        let (group, member) = self.route(k);
        self.first_lane[group] + member as usize
    }

    /// The number of lanes.
    pub fn lanes(&self) -> usize {
        self.members.iter().map(|m| *m as usize).sum()
    }
}

/// The weights as small integers with the same ratios (to 1 in `MAX_PERIOD`).
fn integer_weights(groups: &[Group]) -> Vec<u64> {
    let total: f64 = groups.iter().map(|g| g.weight).sum();
    let scaled: Vec<u64> = groups
        .iter()
        .map(|g| ((g.weight / total * MAX_PERIOD as f64).round() as u64).max(1))
        .collect();
    let divisor = scaled.iter().copied().fold(0, gcd);
    scaled.into_iter().map(|w| w / divisor.max(1)).collect()
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups() -> Vec<Group> {
        // 20 tenants at 80/s read and write and 16/s search, and a neighbour at 200/s.
        vec![
            Group {
                weight: 1600.0,
                members: 20,
            },
            Group {
                weight: 1600.0,
                members: 20,
            },
            Group {
                weight: 320.0,
                members: 20,
            },
            Group {
                weight: 200.0,
                members: 1,
            },
        ]
    }

    #[test]
    fn every_group_gets_its_share_and_every_member_its_part() {
        let routing = Routing::new(&groups());
        assert_eq!(routing.lanes(), 61);
        let n = 3720 * 10;
        let mut per_lane = vec![0u64; routing.lanes()];
        for k in 0..n {
            per_lane[routing.lane(k)] += 1;
        }
        // Exactly proportional over whole periods: 1600/3720 of the slots, split 20 ways.
        assert!(per_lane[..20].iter().all(|&c| c == 800), "{per_lane:?}");
        assert!(per_lane[40..60].iter().all(|&c| c == 160));
        assert_eq!(per_lane[60], 2000);
    }

    #[test]
    fn each_members_slots_are_evenly_spaced() {
        let routing = Routing::new(&groups());
        // Tenant 0's search slots: 20 × 3720/320 = 232.5 slots apart on average.
        let slots: Vec<u64> = (0..3720 * 4)
            .filter(|&k| routing.route(k) == (2, 0))
            .collect();
        let gaps: Vec<u64> = slots.windows(2).map(|w| w[1] - w[0]).collect();
        let (min, max) = (gaps.iter().min().unwrap(), gaps.iter().max().unwrap());
        assert!(*min >= 230 && *max <= 235, "gaps {min}..{max}");
    }

    #[test]
    fn awkward_ratios_are_kept_to_the_period() {
        let routing = Routing::new(&[
            Group {
                weight: 1.0 / 3.0,
                members: 1,
            },
            Group {
                weight: 2.0 / 3.0,
                members: 3,
            },
        ]);
        let first = (0..30_000).filter(|&k| routing.lane(k) == 0).count();
        assert_eq!(first, 10_000);
    }
}
