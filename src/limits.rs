//! Bounded by construction: the ceiling of every count a user sets (config keys and command-line
//! flags, checked where they are parsed, exit 2), and the memory estimates checked before every
//! large allocation (the data as read, the sweep's matrices, simulate's matrices), so that an
//! absurd value is refused with a message naming the key and the limit instead of aborting on a
//! failed allocation, running for hours or hanging. The README's configuration reference lists
//! the same ceilings.

/// Most restarts per rank (`[sweep] restarts`).
pub const MAX_RESTARTS: usize = 100_000;
/// Most cross-validation repeats per rank (`[selection] heldout_repeats`).
pub const MAX_HELDOUT_REPEATS: usize = 10_000;
/// Most null restarts per rank (`[selection] null_restarts`).
pub const MAX_NULL_RESTARTS: usize = 100_000;
/// Most ranks listed in `[sweep] ranks`.
pub const MAX_RANKS: usize = 1_000;
/// Largest rank (`[sweep] ranks` values, `simulate --rank`).
pub const MAX_RANK: usize = 10_000;
/// Most fits in one sweep: ranks x (restarts + heldout_repeats + null_restarts).
pub const MAX_FITS: usize = 1_000_000;
/// Largest `[stop] max_iter`.
pub const MAX_ITER: usize = 100_000_000;
/// Largest `[stop] check_every`.
pub const MAX_CHECK_EVERY: usize = 1_000_000;
/// Most worker threads (`[run] threads`, `--threads`); above the machine's cores they are capped
/// to the cores (with a warning).
pub const MAX_THREADS: usize = 4_096;
/// Most shards (`--shard I/N`, the Slurm array, `status --shards`).
pub const MAX_SHARDS: usize = 100_000;
/// Most rows or columns of `simulate` (`--rows`, `--cols`; `--bars` side: its square root).
pub const MAX_SIMULATE_DIM: usize = 100_000_000;
/// Largest `simulate --bars` side (pixels).
pub const MAX_BARS_SIDE: usize = 10_000;
/// Largest NIfTI-1 dimension (its `dim` entries are 16-bit signed integers): `simulate
/// --volumes`' grid sides and subjects (the 4th axis of all_subjects.nii).
pub const MAX_NIFTI_DIM: usize = 32_767;

/// Bytes in a MiB.
pub const MIB: u64 = 1 << 20;

/// This machine's physical memory in bytes (`sysconf(_SC_PHYS_PAGES) * sysconf(_SC_PAGESIZE)`),
/// or None when the system does not say.
pub fn physical_memory() -> Option<u64> {
    // SAFETY: sysconf only reads system configuration values.
    let (pages, size) = unsafe { (libc::sysconf(libc::_SC_PHYS_PAGES), libc::sysconf(libc::_SC_PAGESIZE)) };
    (pages > 0 && size > 0).then(|| (pages as u64).saturating_mul(size as u64))
}

/// The memory limit in bytes for `[run] memory_limit_mb = mb`: `mb` MiB, or for 0 (the default)
/// this machine's physical memory (64 GiB when the system does not say).
pub fn memory_limit(mb: u64) -> u64 {
    if mb > 0 {
        mb.saturating_mul(MIB)
    } else {
        physical_memory().unwrap_or(64 << 30)
    }
}

/// "1024 MiB ([run] memory_limit_mb)" or "15890 MiB (this machine's physical memory; set [run]
/// memory_limit_mb to change it)": the limit and where it comes from, for messages.
pub fn describe_limit(limit: u64, from_config: bool) -> String {
    if from_config {
        format!("{} MiB ([run] memory_limit_mb)", limit / MIB)
    } else {
        format!(
            "{} MiB (this machine's physical memory; [run] memory_limit_mb sets another limit)",
            limit / MIB
        )
    }
}

/// Ceiling on the bytes of a product of sizes, saturating instead of overflowing.
pub fn bytes(factors: &[u64]) -> u64 {
    factors.iter().fold(1u64, |a, &b| a.saturating_mul(b))
}

/// Bytes as whole MiB, rounded up.
pub fn mib(bytes: u64) -> u64 {
    bytes.div_ceil(MIB)
}

/// Worker threads to start for `requested` (≥ 1): at most this machine's cores. Returns the
/// count and, when it was capped, the warning to show.
pub fn worker_threads(requested: usize) -> (usize, Option<String>) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if requested <= cores {
        return (requested.max(1), None);
    }
    (
        cores,
        Some(format!(
            "{requested} worker threads requested ([run] threads or --threads), but this machine has {cores} cores: \
             using {cores} (more threads than cores only slow the fits; results do not depend on the thread count)"
        )),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_saturate_and_round_up() {
        assert_eq!(bytes(&[u64::MAX, 2]), u64::MAX);
        assert_eq!(bytes(&[3, 4, 8]), 96);
        assert_eq!(mib(1), 1);
        assert_eq!(mib(MIB), 1);
        assert_eq!(mib(MIB + 1), 2);
    }

    #[test]
    fn memory_limit_defaults_to_physical_memory() {
        assert_eq!(memory_limit(5), 5 * MIB);
        assert!(memory_limit(0) >= MIB);
        assert_eq!(describe_limit(5 * MIB, true), "5 MiB ([run] memory_limit_mb)");
    }

    #[test]
    fn threads_above_the_cores_are_capped() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(worker_threads(1), (1, None));
        let (n, warning) = worker_threads(cores + 5);
        assert_eq!(n, cores);
        assert!(warning.is_some_and(|w| w.contains(&format!("using {cores}"))));
    }
}
