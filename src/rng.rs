//! Random streams derived from (master seed, rank, restart).
//!
//! Every fit draws its random start from its own generator, seeded by a pure hash of the master
//! seed, the rank and the restart index. No stream is shared between fits, so a fit's start does
//! not depend on how many threads or shards ran, nor in which order fits were scheduled.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;

/// One round of SplitMix64 (Steele, Lea & Flood 2014): a bijective 64-bit mixer.
fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The seed of fit (`rank`, `restart`) under master seed `master`: a pure function, stable across
/// versions of this program (it is part of the reproducibility contract and is written to fits.tsv).
pub fn fit_seed(master: u64, rank: usize, restart: usize) -> u64 {
    let a = splitmix64(master ^ 0x6E6E_6D66_2D73_7765); // "nnmf-swe"
    let b = splitmix64(a ^ rank as u64);
    splitmix64(b ^ (restart as u64).rotate_left(32))
}

/// A portable, reproducible generator (ChaCha8) for one fit, seeded with [`fit_seed`]'s value.
pub fn fit_rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// Whether entry (i, j) is held out in cross-validation repeat `repeat`: a pure function of
/// (seed, repeat, i, j), true for about `fraction` of entries. Nothing dense is ever stored.
pub fn held_out(seed: u64, repeat: usize, i: usize, j: usize, fraction: f64) -> bool {
    unit(entry_hash(seed, repeat, i, j)) < fraction
}

/// The block (0..blocks) of held-out entry (i, j), for batch-means standard errors.
pub fn entry_block(seed: u64, repeat: usize, i: usize, j: usize, blocks: usize) -> usize {
    (splitmix64(entry_hash(seed, repeat, i, j)) % blocks as u64) as usize
}

fn entry_hash(seed: u64, repeat: usize, i: usize, j: usize) -> u64 {
    let a = splitmix64(seed ^ 0x6865_6C64_6F75_7400); // "heldout"
    let b = splitmix64(a ^ repeat as u64);
    let c = splitmix64(b ^ i as u64);
    splitmix64(c ^ (j as u64).rotate_left(29))
}

/// Maps 64 random bits to [0, 1).
fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngExt;

    const PINNED_SEED: u64 = 13_454_760_269_071_677_310;
    const PINNED_FIRST_DRAW: u64 = 4_599_529_443_072_335_200;

    #[test]
    fn seeds_are_pure_and_distinct() {
        assert_eq!(fit_seed(1, 3, 7), fit_seed(1, 3, 7));
        let mut seen = std::collections::HashSet::new();
        for master in 0..3 {
            for rank in 1..20 {
                for restart in 0..50 {
                    assert!(seen.insert(fit_seed(master, rank, restart)));
                }
            }
        }
    }

    #[test]
    fn seed_values_are_pinned() {
        // Pinned: a change of the hash or of the generator would silently change every sweep
        // users have published, so it must show up here.
        assert_eq!(fit_seed(1, 4, 0), PINNED_SEED);
        assert_eq!(fit_rng(PINNED_SEED).random::<f64>().to_bits(), PINNED_FIRST_DRAW);
    }

    #[test]
    fn held_out_fraction_and_purity() {
        let (n, p) = (300, 200);
        let count = (0..n)
            .flat_map(|i| (0..p).map(move |j| (i, j)))
            .filter(|&(i, j)| held_out(3, 0, i, j, 0.05))
            .count();
        let frac = count as f64 / (n * p) as f64;
        assert!((frac - 0.05).abs() < 0.005, "{frac}");
        assert_eq!(held_out(3, 1, 10, 20, 0.05), held_out(3, 1, 10, 20, 0.05));
        let differ = (0..n)
            .filter(|&i| held_out(3, 0, i, 7, 0.5) != held_out(3, 1, i, 7, 0.5))
            .count();
        assert!(differ > 100, "repeats use different masks");
        assert!((0..1000).all(|i| entry_block(1, 0, i, 3, 20) < 20));
    }
}
