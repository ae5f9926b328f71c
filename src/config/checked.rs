//! Values of a checked configuration whose invariant is in their type: a [`Ranks`] is never empty,
//! unsorted or repeated, a [`HeldoutFraction`] is never outside (0, 0.5]. Only the config checker
//! builds them (their constructors are private to `config`).

use std::ops::Deref;

/// The ranks of a sweep: at least one, each ≥ 1, distinct, ascending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ranks(Vec<usize>);

/// Why the ranks as listed in the config are not a [`Ranks`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BadRanks {
    /// The list is empty.
    Empty,
    /// This rank is below 1 (the first such, in the order listed).
    Impossible(i64),
    /// This rank is listed twice (the first repeat, in the order listed).
    Twice(i64),
}

impl Ranks {
    /// The ranks `listed` in the config, sorted; the first fault in the order listed otherwise.
    pub(super) fn new(listed: &[i64]) -> Result<Ranks, BadRanks> {
        if listed.is_empty() {
            return Err(BadRanks::Empty);
        }
        let mut ranks = Vec::with_capacity(listed.len());
        for &r in listed {
            let Some(rank) = usize::try_from(r).ok().filter(|&rank| rank >= 1) else {
                return Err(BadRanks::Impossible(r));
            };
            if ranks.contains(&rank) {
                return Err(BadRanks::Twice(r));
            }
            ranks.push(rank);
        }
        ranks.sort_unstable();
        Ok(Ranks(ranks))
    }

    /// The ranks, ascending.
    pub fn as_slice(&self) -> &[usize] {
        &self.0
    }
}

impl Deref for Ranks {
    type Target = [usize];

    fn deref(&self) -> &[usize] {
        &self.0
    }
}

impl<'a> IntoIterator for &'a Ranks {
    type Item = &'a usize;
    type IntoIter = std::slice::Iter<'a, usize>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl PartialEq<Vec<usize>> for Ranks {
    fn eq(&self, other: &Vec<usize>) -> bool {
        self.0 == *other
    }
}

/// Fraction of the entries held out per cross-validation repeat: a number in (0, 0.5].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeldoutFraction(f64);

impl HeldoutFraction {
    /// `[selection] heldout_fraction` when the config leaves it out.
    pub const DEFAULT: HeldoutFraction = HeldoutFraction(0.05);

    /// `f` when it is in (0, 0.5].
    pub(super) fn new(f: f64) -> Option<HeldoutFraction> {
        (f > 0.0 && f <= 0.5).then_some(HeldoutFraction(f))
    }

    /// The fraction.
    pub fn get(self) -> f64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_hold_their_invariant() {
        let r = Ranks::new(&[4, 2, 3]).unwrap();
        assert_eq!(r, vec![2, 3, 4]);
        assert_eq!((r.as_slice(), r.len(), r.iter().max()), (&[2, 3, 4][..], 3, Some(&4)));
        assert_eq!(Ranks::new(&[]), Err(BadRanks::Empty));
        assert_eq!(Ranks::new(&[2, -1, 0]), Err(BadRanks::Impossible(-1)));
        assert_eq!(Ranks::new(&[3, 2, 3, 0]), Err(BadRanks::Twice(3)));
    }

    #[test]
    fn heldout_fraction_is_in_its_range() {
        assert_eq!(HeldoutFraction::new(0.5).map(HeldoutFraction::get), Some(0.5));
        assert_eq!(HeldoutFraction::DEFAULT.get(), 0.05);
        for bad in [0.0, -0.1, 0.50001, f64::NAN, f64::INFINITY] {
            assert_eq!(HeldoutFraction::new(bad), None, "{bad}");
        }
    }
}
