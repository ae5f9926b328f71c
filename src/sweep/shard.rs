//! Shards: a deterministic share of the job grid for one process of a cluster run.
//!
//! Every process computes the same assignment from the grid alone: jobs sorted by expected cost
//! (descending; ties in (rank, kind, index) order), each given to the shard with the least cost so
//! far (ties to the lower shard): the longest-processing-time greedy rule. The cost of a fit is
//! proportional to its rank (a multiplicative or HALS iteration costs O(N·p·r)).

use crate::error::{Error, Result};
use crate::record::Job;

/// One shard of `count`: this process runs the jobs assigned to `index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 0-based index, `< count`.
    pub index: usize,
    /// Number of shards, ≥ 1.
    pub count: usize,
}

impl Shard {
    /// Parses `I/N` (0 ≤ I < N); `from` names where the text came from, for messages.
    pub fn parse(text: &str, from: &str) -> Result<Shard> {
        let bad = |m: String| Error::Shard {
            source_name: from.to_string(),
            message: m,
        };
        let (i, n) = text.split_once('/').ok_or_else(|| {
            bad(format!(
                "\"{text}\" is not of the form I/N (e.g. 0/4: the first of 4 shards)"
            ))
        })?;
        let num = |s: &str, what: &str| {
            s.trim()
                .parse::<usize>()
                .map_err(|_| bad(format!("{what} \"{s}\" in \"{text}\" is not a non-negative integer")))
        };
        let (index, count) = (num(i, "shard index")?, num(n, "shard count")?);
        if count == 0 {
            return Err(bad(format!("\"{text}\": the shard count N must be at least 1")));
        }
        if count > crate::limits::MAX_SHARDS {
            return Err(bad(format!(
                "\"{text}\": the shard count N must be at most {} (a shard runs at least one fit; a sweep has at \
                 most {} fits)",
                crate::limits::MAX_SHARDS,
                crate::limits::MAX_FITS
            )));
        }
        if index >= count {
            return Err(bad(format!(
                "\"{text}\": the shard index must be between 0 and {} (shards are numbered from 0)",
                count - 1
            )));
        }
        Ok(Shard { index, count })
    }

    /// The shard of a Slurm array task, from `SLURM_ARRAY_TASK_ID` and the array's size
    /// (`SLURM_ARRAY_TASK_COUNT`, else `SLURM_ARRAY_TASK_MAX − SLURM_ARRAY_TASK_MIN + 1`), with
    /// index `ID − MIN`; None when `SLURM_ARRAY_TASK_ID` is not set. `get` reads a variable.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Option<Shard>> {
        if get("SLURM_ARRAY_TASK_ID").is_none() {
            return Ok(None);
        }
        let bad = |name: &str, m: String| Error::Shard {
            source_name: format!("environment variable {name}"),
            message: m,
        };
        let num = |name: &str| -> Result<Option<usize>> {
            get(name)
                .map(|v| {
                    v.trim()
                        .parse::<usize>()
                        .map_err(|_| bad(name, format!("\"{v}\" is not a non-negative integer")))
                })
                .transpose()
        };
        let id = num("SLURM_ARRAY_TASK_ID")?.unwrap_or_default();
        let min = num("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
        let range = num("SLURM_ARRAY_TASK_MAX")?.map(|max| max.saturating_sub(min) + 1);
        let count = match (num("SLURM_ARRAY_TASK_COUNT")?, range) {
            (Some(c), Some(r)) if c != r => {
                return Err(bad(
                    "SLURM_ARRAY_TASK_COUNT",
                    format!(
                        "the array has {c} tasks but spans {r} indices: shards need a contiguous array \
                         (--array=0-{}); pass --shard I/N explicitly",
                        c.saturating_sub(1)
                    ),
                ));
            }
            (Some(c), _) => c,
            (None, Some(r)) => r,
            (None, None) => {
                return Err(bad(
                    "SLURM_ARRAY_TASK_COUNT",
                    "not set (nor SLURM_ARRAY_TASK_MAX): the array's size is unknown; pass --shard I/N".into(),
                ));
            }
        };
        let index = id.checked_sub(min).ok_or_else(|| {
            bad(
                "SLURM_ARRAY_TASK_ID",
                format!("{id} is below SLURM_ARRAY_TASK_MIN = {min}"),
            )
        })?;
        Shard::parse(&format!("{index}/{count}"), "the Slurm array environment").map(Some)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Expected cost of a job (relative units): proportional to its rank.
pub fn cost(job: &Job) -> u64 {
    job.rank as u64
}

/// The shard (0..count) of every job of `jobs`, in the order of `jobs`; the same for every
/// process (it depends on the grid and `count` only).
pub fn assign(jobs: &[Job], count: usize) -> Vec<usize> {
    let count = count.max(1);
    let mut order: Vec<usize> = (0..jobs.len()).collect();
    order.sort_by_key(|&i| {
        let j = &jobs[i];
        (std::cmp::Reverse(cost(j)), j.rank, j.kind, j.index)
    });
    // The least-loaded shard, ties to the lower index, is the top of a min-heap of (load, shard):
    // O(jobs · log shards). Shards beyond the jobs stay empty and are never held.
    let mut load: std::collections::BinaryHeap<std::cmp::Reverse<(u64, usize)>> =
        (0..count.min(jobs.len())).map(|s| std::cmp::Reverse((0, s))).collect();
    let mut out = vec![0usize; jobs.len()];
    for i in order {
        let Some(std::cmp::Reverse((l, s))) = load.pop() else {
            break;
        };
        out[i] = s;
        load.push(std::cmp::Reverse((l + cost(&jobs[i]), s)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{GridSize, jobs};
    use std::collections::HashMap;

    #[test]
    fn parse_accepts_and_rejects() {
        assert_eq!(Shard::parse("1/4", "--shard").unwrap(), Shard { index: 1, count: 4 });
        for (bad, msg) in [
            ("4/4", "between 0 and 3"),
            ("1/0", "at least 1"),
            ("x/2", "shard index \"x\""),
            ("3", "not of the form I/N"),
            ("-1/2", "not a non-negative integer"),
            ("0/1000000000", "must be at most 100000"),
        ] {
            let e = Shard::parse(bad, "--shard").unwrap_err();
            assert!(e.to_string().contains(msg), "{bad}: {e}");
            assert_eq!(e.exit_code(), crate::error::exit::CONFIG);
        }
    }

    #[test]
    fn slurm_environment() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            let m: HashMap<&str, &str> = pairs.iter().copied().collect();
            move |k: &str| m.get(k).map(|v| v.to_string())
        };
        assert_eq!(Shard::from_env(env(&[])).unwrap(), None);
        let s = Shard::from_env(env(&[
            ("SLURM_ARRAY_TASK_ID", "2"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
            ("SLURM_ARRAY_TASK_MIN", "0"),
            ("SLURM_ARRAY_TASK_MAX", "3"),
        ]))
        .unwrap();
        assert_eq!(s, Some(Shard { index: 2, count: 4 }));
        let s = Shard::from_env(env(&[
            ("SLURM_ARRAY_TASK_ID", "5"),
            ("SLURM_ARRAY_TASK_MIN", "4"),
            ("SLURM_ARRAY_TASK_MAX", "7"),
        ]))
        .unwrap();
        assert_eq!(s, Some(Shard { index: 1, count: 4 }));
        let e = Shard::from_env(env(&[
            ("SLURM_ARRAY_TASK_ID", "3"),
            ("SLURM_ARRAY_TASK_COUNT", "2"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_MAX", "3"),
        ]))
        .unwrap_err();
        assert!(e.to_string().contains("contiguous"), "{e}");
        assert!(Shard::from_env(env(&[("SLURM_ARRAY_TASK_ID", "0")])).is_err());
    }

    #[test]
    fn assignment_is_the_least_loaded_shard_rule() {
        let size = GridSize {
            restarts: 5,
            heldout_repeats: 2,
            null_restarts: 1,
        };
        let grid = jobs(&[1, 2, 3, 7], size, 3);
        for n in [1, 2, 5, 31, 32, 33, 100, 1_000_000] {
            // The rule written as a scan over every shard.
            let mut order: Vec<usize> = (0..grid.len()).collect();
            order.sort_by_key(|&i| {
                (
                    std::cmp::Reverse(cost(&grid[i])),
                    grid[i].rank,
                    grid[i].kind,
                    grid[i].index,
                )
            });
            let mut load = vec![0u64; n.min(1000)];
            let mut want = vec![0usize; grid.len()];
            for i in order {
                let s = (0..load.len()).min_by_key(|&s| (load[s], s)).unwrap();
                load[s] += cost(&grid[i]);
                want[i] = s;
            }
            assert_eq!(assign(&grid, n), want, "{n} shards");
        }
    }

    #[test]
    fn assignment_covers_every_job_once_and_balances_cost() {
        let size = GridSize {
            restarts: 7,
            heldout_repeats: 2,
            null_restarts: 1,
        };
        let grid = jobs(&[2, 3, 5, 8], size, 1);
        for n in [1, 2, 3, 4, 7] {
            let a = assign(&grid, n);
            assert_eq!(a, assign(&grid, n), "deterministic");
            assert!(a.iter().all(|&s| s < n));
            let mut load = vec![0u64; n];
            for (j, &s) in grid.iter().zip(&a) {
                load[s] += cost(j);
            }
            let (lo, hi) = (load.iter().min().unwrap(), load.iter().max().unwrap());
            assert!(hi - lo <= 8, "n = {n}: loads {load:?}");
        }
    }
}
