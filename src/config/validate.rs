//! `RawConfig` → `Plan`: reading and parsing the file, the checked [`Plan`], and the `Checker`
//! whose `plan` runs the checks of each section (`check_*.rs`, `ceilings.rs`) in a fixed order,
//! each fault with its own message.

use super::check_model::Model;
use super::check_sweep::Sweep;
use super::checked::{HeldoutFraction, Ranks};
use super::line_col;
use super::raw::RawConfig;
use crate::data::DataSpec;
use crate::error::{Error, Result};
use crate::nmf::init::Init;
use crate::nmf::{Loss, Penalty, Precision, Resample, Solver, StopRule};
use crate::stats::select::{Rule, Solution};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// How the rank is chosen and which statistics are computed (`[selection]`).
#[derive(Debug, Clone, PartialEq)]
pub struct SelectionSpec {
    /// The decision rule.
    pub rule: Rule,
    /// Memory limit for the consensus statistics, in MiB.
    pub consensus_max_mb: usize,
    /// Fraction of entries held out per repeat, in (0, 0.5].
    pub heldout_fraction: HeldoutFraction,
    /// Cross-validation repeats per rank (0: none).
    pub heldout_repeats: usize,
    /// Restarts per rank on column-permuted data (0: no null baseline).
    pub null_restarts: usize,
    /// The solution the memberships tables use; the consensus components are computed only for
    /// [`Solution::Consensus`].
    pub solution: Solution,
}

/// Command-line values that take precedence over the config file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--threads N` (0: all cores).
    pub threads: Option<usize>,
    /// `--out DIR` (relative to the current directory).
    pub out: Option<PathBuf>,
}

/// A checked configuration: everything the sweep needs, with no value left to validate except
/// the rank bounds that depend on the data ([`Plan::check_ranks`]).
#[derive(Debug, Clone)]
pub struct Plan {
    /// The config file.
    pub config_path: PathBuf,
    /// Its text, stored with the results.
    pub config_text: String,
    /// The input matrix.
    pub data: DataSpec,
    /// The loss minimized.
    pub loss: Loss,
    /// The algorithm.
    pub solver: Solver,
    /// The starting points.
    pub init: Init,
    /// L1/L2 penalties on W and H.
    pub penalty: Penalty,
    /// Floating-point type of the fits' products.
    pub precision: Precision,
    /// Ranks, ascending, distinct, ≥ 1.
    pub ranks: Ranks,
    /// Line of `sweep.ranks` (for messages about ranks that do not fit the data).
    pub ranks_line: usize,
    /// Restarts per rank.
    pub restarts: NonZeroUsize,
    /// Master seed of every random stream.
    pub seed: u64,
    /// What each restart fits: X, or a resampled copy of its own.
    pub resample: Resample,
    /// When a fit stops.
    pub stop: StopRule,
    /// Output directory.
    pub out_dir: PathBuf,
    /// Worker threads.
    pub threads: NonZeroUsize,
    /// Rank-selection settings.
    pub selection: SelectionSpec,
    /// `[report] reference`: the reference catalogue the components are matched to (None: no
    /// matching).
    pub reference: Option<PathBuf>,
}

/// Reads and checks the config file at `path`.
pub fn load(path: &Path, overrides: &Overrides) -> Result<Plan> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::ConfigRead {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text, path, overrides)
}

/// Checks config `text` read from `path` (used to resolve relative paths and in messages).
pub fn parse(text: &str, path: &Path, overrides: &Overrides) -> Result<Plan> {
    let raw: RawConfig = toml::from_str(text).map_err(|e| toml_error(text, path, &e))?;
    Checker { text, path }.plan(raw, overrides)
}

/// Turns a TOML/serde error into a message with line, column and a fix.
fn toml_error(text: &str, path: &Path, e: &toml::de::Error) -> Error {
    let offset = e.span().map_or(0, |s| s.start);
    let (line, column) = line_col(text, offset);
    let msg = e.message().trim().to_string();
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        let key = rest.split('`').next().unwrap_or_default().to_string();
        let valid: Vec<&str> = rest
            .split_once("expected")
            .map_or(vec![], |(_, list)| list.split('`').skip(1).step_by(2).collect());
        let section = section_at(text, offset).map_or(String::new(), |s| format!(" in [{s}]"));
        let closest = valid
            .iter()
            .map(|v| (strsim::levenshtein(&key, v), *v))
            .filter(|(d, v)| *d <= 2.max(v.len() / 3))
            .min_by_key(|(d, _)| *d);
        let mut hint = String::new();
        if let Some((_, c)) = closest {
            hint.push_str(&format!("; did you mean `{c}`?"));
        }
        if !valid.is_empty() {
            hint.push_str(&format!(" (valid keys: {})", valid.join(", ")));
        }
        return Error::UnknownKey {
            path: path.to_path_buf(),
            line,
            key,
            section,
            hint,
        };
    }
    // An integer beyond i64 reaches serde as i128 or u64: say that it is out of range, not a type.
    let msg = match msg
        .strip_prefix("invalid type: integer `")
        .and_then(|rest| rest.split_once('`'))
        .filter(|(_, tail)| tail.starts_with(" as i128") || tail.starts_with(" as u64"))
    {
        Some((number, _)) => format!(
            "integer {number} is out of range: integers in the config are at most {}; give the value the key \
             needs (see the README's configuration reference)",
            i64::MAX
        ),
        None => msg,
    };
    // Name the key whose value is wrong (serde's messages do not).
    let message = match key_at(text, offset) {
        Some(key) => format!("{key}: {msg}"),
        None => msg,
    };
    Error::ConfigSyntax {
        path: path.to_path_buf(),
        line,
        column,
        message,
    }
}

/// The dotted key ("sweep.ranks") whose value holds byte `offset`: the nearest `key = ...` line at
/// or above the offset's line, with the `[table]` header above it; None when the offset is on a
/// header line (even a malformed one) or above every key.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let offset = offset.min(text.len());
    let mut end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    loop {
        let start = text[..end].rfind('\n').map_or(0, |i| i + 1);
        let line = text[start..end].trim();
        if line.starts_with('[') {
            return None;
        }
        if let Some((k, _)) = line.split_once('=').filter(|_| !line.starts_with('#')) {
            let k = k.trim();
            if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)) {
                return Some(match section_at(text, start) {
                    Some(section) => format!("{section}.{k}"),
                    None => k.to_string(),
                });
            }
        }
        if start == 0 {
            return None;
        }
        end = start - 1;
    }
}

/// The `[table]` header that governs byte `offset`, if any (none when the offset is on a header
/// line itself: then the unknown key is a table name at the top level).
fn section_at(text: &str, offset: usize) -> Option<String> {
    let offset = offset.min(text.len());
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    if text[line_start..].trim_start().starts_with('[') {
        return None;
    }
    let header = text[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))?;
    let name = header.trim_start_matches('[').split(']').next()?.trim();
    (!name.is_empty()).then(|| name.to_string())
}

/// Checks a parsed config file; its methods, one or a few per section, live beside this file.
pub(super) struct Checker<'a> {
    text: &'a str,
    path: &'a Path,
}

impl Checker<'_> {
    /// The line of value `s` in the file.
    pub(super) fn line<T>(&self, s: &Spanned<T>) -> usize {
        line_col(self.text, s.span().start).0
    }

    /// The fault `message` of the value of `key` at `at`.
    pub(super) fn err<T>(&self, key: &str, at: &Spanned<T>, message: String) -> Error {
        Error::ConfigValue {
            path: self.path.to_path_buf(),
            line: self.line(at),
            key: key.to_string(),
            message,
        }
    }

    /// The fault `message` of `key` at `line` (0: none), e.g. a key left out.
    pub(super) fn missing(&self, key: &str, line: usize, message: &str) -> Error {
        Error::ConfigValue {
            path: self.path.to_path_buf(),
            line,
            key: key.to_string(),
            message: message.to_string(),
        }
    }

    /// A required section: its value and its header's line, or the fault `message`.
    pub(super) fn section<T>(&self, s: Option<Spanned<T>>, name: &str, message: &str) -> Result<(T, usize)> {
        let s = s.ok_or_else(|| self.missing(name, 0, message))?;
        let line = self.line(&s);
        Ok((s.into_inner(), line))
    }

    /// A required key of the section whose header is at `line`, or the fault `message`.
    pub(super) fn required<T>(&self, v: Option<T>, key: &str, line: usize, message: &str) -> Result<T> {
        v.ok_or_else(|| self.missing(key, line, message))
    }

    /// A choice among named values; the message lists the valid ones.
    pub(super) fn choice<T: Copy>(
        &self,
        key: &str,
        v: Option<&Spanned<String>>,
        all: &[(&str, T)],
        default: T,
        note: &str,
    ) -> Result<T> {
        let Some(v) = v else { return Ok(default) };
        let s = v.get_ref().as_str();
        all.iter().find(|(name, _)| *name == s).map(|(_, t)| *t).ok_or_else(|| {
            let names: Vec<String> = all.iter().map(|(n, _)| format!("\"{n}\"")).collect();
            self.err(
                key,
                v,
                format!("unknown value \"{s}\"; valid values: {}{note}", names.join(", ")),
            )
        })
    }

    /// The value of `key`: `default` when it is left out, else what `accept` makes of it, or the
    /// fault `fault(value)` when `accept` refuses it.
    pub(super) fn value<T: Copy, U>(
        &self,
        key: &str,
        v: Option<&Spanned<T>>,
        default: U,
        accept: impl FnOnce(T) -> Option<U>,
        fault: impl FnOnce(T) -> String,
    ) -> Result<U> {
        match v {
            None => Ok(default),
            Some(s) => accept(*s.get_ref()).ok_or_else(|| self.err(key, s, fault(*s.get_ref()))),
        }
    }

    /// A count ≥ 1; `what` says why it must be.
    pub(super) fn positive(
        &self,
        key: &str,
        v: Option<&Spanned<i64>>,
        default: NonZeroUsize,
        what: &str,
    ) -> Result<NonZeroUsize> {
        self.value(
            key,
            v,
            default,
            |n| usize::try_from(n).ok().and_then(NonZeroUsize::new),
            |n| format!("must be at least 1 (got {n}): {what}"),
        )
    }

    /// Path `p` of the config, relative to the config file's folder.
    pub(super) fn resolve(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.path.parent().unwrap_or(Path::new("")).join(p)
        }
    }

    /// Every check, section by section, in this order (the first fault found is the one reported):
    /// the ceilings across sections, then `[data]`, `[model]`, `[sweep]`, `[stop]`, `[output]`,
    /// `[run]`, `[selection]` and `[report]`.
    fn plan(&self, raw: RawConfig, ov: &Overrides) -> Result<Plan> {
        let memory_limit_mb = self.ceilings(&raw, ov)?;
        let data = self.data(raw.data, memory_limit_mb)?;
        let Model {
            loss,
            solver,
            init,
            precision,
            penalty,
        } = self.model(&raw.model)?;
        let Sweep {
            ranks,
            ranks_line,
            restarts,
            seed,
            resample,
            resample_line,
        } = self.sweep(raw.sweep)?;
        if resample == Resample::Bootstrap && (data.nan_is_missing || data.mask.is_some()) {
            return Err(Error::ConfigValue {
                path: self.path.to_path_buf(),
                line: resample_line,
                key: "sweep.resample".into(),
                message: "\"bootstrap\" cannot be combined with missing values ([data] missing = \"nan\" or mask): \
                          the rows of a sample would carry their missing entries; use resample = \"poisson\" or \
                          leave out the missing values"
                    .into(),
            });
        }
        let stop = self.stop(raw.stop)?;
        let out_dir = self.out_dir(raw.output, ov)?;
        let threads = self.threads(&raw.run, ov)?;
        let selection = self.selection(raw.selection)?;
        let reference = self.report(raw.report)?;
        Ok(Plan {
            reference,
            selection,
            config_path: self.path.to_path_buf(),
            config_text: self.text.to_string(),
            data,
            loss,
            solver,
            init,
            penalty,
            precision,
            ranks,
            ranks_line,
            restarts,
            seed,
            resample,
            stop,
            out_dir,
            threads,
        })
    }
}

impl Plan {
    /// Checks `[data] image_shape` (if given) against the p features of X (as stored, before
    /// all-zero columns are left out): height x width must be p.
    pub fn check_image_shape(&self, p: usize) -> Result<()> {
        match self.data.image_shape {
            // The product in u128: height and width are any positive i64 of the config.
            Some(s) if s.height as u128 * s.width as u128 != p as u128 => Err(Error::ConfigValue {
                path: self.config_path.clone(),
                line: s.line,
                key: "data.image_shape".into(),
                message: format!(
                    "[{}, {}] is {} pixels, but each observation (row of X) has {p} features; give a shape \
                     whose height x width is {p}, or remove image_shape",
                    s.height,
                    s.width,
                    s.height as u128 * s.width as u128
                ),
            }),
            _ => Ok(()),
        }
    }

    /// Checks the ranks against the shape of the matrix as fitted (N x p, all-zero rows and
    /// columns left out; `reduced` says whether any were): a rank above max(N, p) is an error; one
    /// above min(N, p) is allowed (such a fit is not unique even up to scaling) and gives a warning.
    pub fn check_ranks(&self, n: usize, p: usize, reduced: bool) -> Result<Vec<String>> {
        let what = if reduced {
            "the data without its all-zero rows and columns"
        } else {
            "the data"
        };
        let mut warnings = Vec::new();
        for &r in &self.ranks {
            if r > n.max(p) {
                return Err(Error::ConfigValue {
                    path: self.config_path.clone(),
                    line: self.ranks_line,
                    key: "sweep.ranks".into(),
                    message: format!(
                        "rank {r} is larger than both dimensions of {what} ({n} x {p}); use ranks of at most {}",
                        n.max(p)
                    ),
                });
            }
            if r > n.min(p) {
                warnings.push(format!(
                    "rank {r} is larger than the smaller dimension of {what} ({n} x {p}): the factorization is over-complete"
                ));
            }
        }
        Ok(warnings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Format;
    use crate::nmf::fit::Convergence;

    const GOOD: &str = r#"
[data]
path = "x.h5"
dataset = "X"
[model]
loss = "frobenius"
[sweep]
ranks = [4, 2, 3]
restarts = 5
seed = 9
[stop]
max_iter = 100
tol = 1e-5
check_every = 5
[output]
dir = "out"
[run]
threads = 2
"#;

    fn parse_str(text: &str) -> Result<Plan> {
        parse(text, Path::new("/cfg/c.toml"), &Overrides::default())
    }

    fn message(text: &str) -> String {
        parse_str(text).unwrap_err().to_string()
    }

    #[test]
    fn good_config() {
        let p = parse_str(GOOD).unwrap();
        assert_eq!(p.ranks, vec![2, 3, 4]);
        assert_eq!(p.data.path, PathBuf::from("/cfg/x.h5"));
        assert_eq!(p.out_dir, PathBuf::from("/cfg/out"));
        assert_eq!(
            (p.loss, p.restarts.get(), p.seed, p.threads.get()),
            (Loss::Frobenius, 5, 9, 2)
        );
        assert_eq!(
            p.stop,
            StopRule {
                max_iter: NonZeroUsize::new(100).unwrap(),
                tol: 1e-5,
                check_every: NonZeroUsize::new(5).unwrap(),
                rule: Convergence::Gap,
            }
        );
        assert_eq!(p.ranks_line, 8);
        let brunet = GOOD.replace(
            "check_every = 5",
            "check_every = 5\nrule = \"assignment\"\nstationary_checks = 12",
        );
        let b = parse_str(&brunet).unwrap();
        assert_eq!(
            b.stop.rule,
            Convergence::Assignment {
                checks: NonZeroUsize::new(12).unwrap()
            }
        );
        assert_eq!(
            (p.data.format, p.data.dataset.as_str(), p.data.layer.as_deref()),
            (Format::Auto, "X", None)
        );
        let h5ad = GOOD.replace("dataset = \"X\"", "format = \"h5ad\"\nlayer = \"counts\"");
        let p = parse_str(&h5ad).unwrap();
        assert_eq!(
            (p.data.format, p.data.dataset.as_str(), p.data.layer.as_deref()),
            (Format::H5ad, "", Some("counts"))
        );
    }

    #[test]
    fn overrides_win() {
        let ov = Overrides {
            threads: Some(1),
            out: Some(PathBuf::from("elsewhere")),
        };
        let p = parse(GOOD, Path::new("/cfg/c.toml"), &ov).unwrap();
        assert_eq!((p.threads.get(), p.out_dir), (1, PathBuf::from("elsewhere")));
    }

    #[test]
    fn unknown_key_names_line_and_closest() {
        let m = message(&GOOD.replace("restarts = 5", "restart = 5"));
        assert_eq!(
            m,
            "/cfg/c.toml:9: unknown key `restart` in [sweep]; did you mean `restarts`? (valid keys: ranks, restarts, seed, resample)"
        );
        let m = message(&GOOD.replace("[model]", "[modle]"));
        assert!(
            m.starts_with("/cfg/c.toml:5: unknown key `modle`; did you mean `model`?"),
            "{m}"
        );
    }

    #[test]
    fn unknown_resample_value_lists_the_accepted_ones() {
        let m = message(&GOOD.replace("restarts = 5", "restarts = 5\nresample = \"jackknife\""));
        assert_eq!(
            m,
            "/cfg/c.toml:10: sweep.resample: unknown value \"jackknife\"; valid values: \"none\", \"poisson\", \
             \"bootstrap\" (\"poisson\" fits each restart to a Poisson draw of X, \"bootstrap\" to a sample of its rows)"
        );
        let p = parse(
            &GOOD.replace("restarts = 5", "restarts = 5\nresample = \"poisson\""),
            Path::new("/cfg/c.toml"),
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(p.resample, Resample::Poisson);
        assert_eq!(
            parse(GOOD, Path::new("/cfg/c.toml"), &Overrides::default())
                .unwrap()
                .resample,
            Resample::None
        );
    }

    #[test]
    fn bootstrap_with_missing_values_is_refused() {
        let text = GOOD.replace("restarts = 5", "restarts = 5\nresample = \"bootstrap\"");
        assert_eq!(
            parse(&text, Path::new("/cfg/c.toml"), &Overrides::default())
                .unwrap()
                .resample,
            Resample::Bootstrap
        );
        let m = message(&text.replace("[data]", "[data]\nmissing = \"nan\""));
        assert!(
            m.starts_with("/cfg/c.toml:11: sweep.resample: \"bootstrap\" cannot be combined with missing values"),
            "{m}"
        );
    }

    #[test]
    fn malformed_toml_gives_line_and_column() {
        let m = message(&GOOD.replace("restarts = 5", "restarts = = 5"));
        assert!(m.starts_with("/cfg/c.toml:9:12: "), "{m}");
        let m = message(&GOOD.replace("restarts = 5", "restarts = \"five\""));
        assert!(m.starts_with("/cfg/c.toml:9:12: ") && m.contains("invalid type"), "{m}");
    }

    #[test]
    fn syntax_errors_name_the_key() {
        let m = message(&GOOD.replace("restarts = 5", "restarts = \"five\""));
        assert!(m.starts_with("/cfg/c.toml:9:12: sweep.restarts: invalid type"), "{m}");
        // A value beyond i64, also inside a multi-line array.
        let m = message(&GOOD.replace("ranks = [4, 2, 3]", "ranks = [\n  4,\n  99999999999999999999,\n]"));
        assert_eq!(
            m,
            "/cfg/c.toml:10:3: sweep.ranks: integer 99999999999999999999 is out of range: integers in the config are \
             at most 9223372036854775807; give the value the key needs (see the README's configuration reference)"
        );
        assert_eq!(key_at("a = 1\n[x]\nb = [\n1,\n", 16).as_deref(), Some("x.b"));
        assert_eq!(key_at("a = 1\n[x]\n", 8), None);
        assert_eq!(
            key_at("a = 1\n[x\n", 8),
            None,
            "a malformed header is not the key above it"
        );
        assert_eq!(key_at("top = 2\n", 6).as_deref(), Some("top"));
    }

    #[test]
    fn each_rule_has_its_message() {
        let cases = [
            (
                "ranks = [4, 2, 3]",
                "ranks = [0, 2]",
                "/cfg/c.toml:8: sweep.ranks: rank 0 is impossible; ranks must be at least 1",
            ),
            (
                "ranks = [4, 2, 3]",
                "ranks = []",
                "/cfg/c.toml:8: sweep.ranks: is empty; list at least one rank, e.g. ranks = [2, 3, 4]",
            ),
            (
                "ranks = [4, 2, 3]",
                "ranks = [2, 2]",
                "/cfg/c.toml:8: sweep.ranks: rank 2 is listed twice; list each rank once",
            ),
            (
                "restarts = 5",
                "restarts = 0",
                "/cfg/c.toml:9: sweep.restarts: must be at least 1 (got 0): each rank needs at least one fit",
            ),
            (
                "loss = \"frobenius\"",
                "loss = \"poisson\"",
                "/cfg/c.toml:6: model.loss: unknown value \"poisson\"; valid values: \"kl\", \"frobenius\" (\"kl\" is the Poisson likelihood)",
            ),
            (
                "loss = \"frobenius\"",
                "solver = \"als\"",
                "/cfg/c.toml:6: model.solver: unknown value \"als\"; valid values: \"mu\", \"hals\", \"cd\"",
            ),
            (
                "loss = \"frobenius\"",
                "solver = \"hals\"",
                "/cfg/c.toml:6: model.solver: solver \"hals\" minimizes the Frobenius loss only, not loss = \"kl\"; use \
                 solver = \"mu\" (or leave solver out for the fastest solver of the loss)",
            ),
            (
                "loss = \"frobenius\"",
                "precision = \"f16\"",
                "/cfg/c.toml:6: model.precision: unknown value \"f16\"; valid values: \"f64\", \"f32\", \"auto\" \
                 (\"f32\" is about twice as fast; objectives are still computed in f64)",
            ),
            (
                "check_every = 5",
                "check_every = 5\nrule = \"brunet\"",
                "/cfg/c.toml:15: stop.rule: unknown value \"brunet\"; valid values: \"gap\", \"decrease\", \"assignment\" \
                 (\"gap\": the objective's remaining decrease is below tol; \"decrease\": its last decrease; \
                 \"assignment\": Brunet's rule, clusters unchanged for stationary_checks checks)",
            ),
            (
                "check_every = 5",
                "check_every = 5\nstationary_checks = 10",
                "/cfg/c.toml:15: stop.stationary_checks: applies to rule = \"assignment\" only (rule is \"gap\"); add \
                 rule = \"assignment\" or remove stationary_checks",
            ),
            (
                "check_every = 5",
                "check_every = 5\nrule = \"assignment\"\nstationary_checks = 0",
                "/cfg/c.toml:16: stop.stationary_checks: must be at least 1 (got 0): the clusters must hold for at least one check",
            ),
            (
                "loss = \"frobenius\"",
                "init = \"nndsvd9\"",
                "/cfg/c.toml:6: model.init: unknown value \"nndsvd9\"; valid values: \"random\", \"nndsvd\", \"nndsvda\", \"nndsvdar\"",
            ),
            (
                "tol = 1e-5",
                "tol = -1.0",
                "/cfg/c.toml:13: stop.tol: must be a finite number ≥ 0 (got -1)",
            ),
            (
                "max_iter = 100",
                "max_iter = 0",
                "/cfg/c.toml:12: stop.max_iter: must be at least 1 (got 0): a fit needs at least one iteration",
            ),
            (
                "seed = 9",
                "seed = -3",
                "/cfg/c.toml:10: sweep.seed: must be a non-negative integer (got -3)",
            ),
            (
                "loss = \"frobenius\"",
                "l1_h = -0.5",
                "/cfg/c.toml:6: model.l1_h: must be a finite number ≥ 0 (got -0.5); 0 means no penalty",
            ),
            (
                "threads = 2",
                "threads = -1",
                "/cfg/c.toml:18: run.threads: must be ≥ 0 (0: all cores), got -1",
            ),
            (
                "dataset = \"X\"\n",
                "format = \"csr\"\n",
                "/cfg/c.toml:2: data.dataset: missing key; format \"csr\" needs the matrix's path inside the file: add \
                 dataset = \"X\" under [data]",
            ),
            (
                "dataset = \"X\"\n",
                "format = \"npy\"\n",
                "/cfg/c.toml:4: data.format: unknown value \"npy\"; valid values: \"auto\", \"hdf5\", \"csr\", \"csc\", \
                 \"h5ad\", \"10x\", \"mtx\", \"csv\", \"tsv\", \"nifti\" (\"auto\" detects it from the file)",
            ),
            (
                "dataset = \"X\"\n",
                "dataset = \"X\"\nformat = \"csv\"\n",
                "/cfg/c.toml:4: data.dataset: names a matrix inside an HDF5 file; a csv file has none: remove it (or set \
                 the file's own format)",
            ),
            (
                "dataset = \"X\"\n",
                "dataset = \"X\"\nlayer = \"counts\"\n",
                "/cfg/c.toml:5: data.layer: cannot be combined with dataset: layer = \"counts\" reads the dataset \
                 layers/counts; keep one",
            ),
            (
                "dataset = \"X\"\n",
                "format = \"10x\"\nlayer = \"counts\"\n",
                "/cfg/c.toml:5: data.layer: names a layer of an AnnData file; format \"10x\" has no layers: remove \
                 layer, or set format = \"h5ad\"",
            ),
        ];
        for (from, to, want) in cases {
            assert_eq!(message(&GOOD.replace(from, to)), want, "replacing {from:?} by {to:?}");
        }
    }

    #[test]
    fn counts_have_ceilings() {
        let cases = [
            (
                "restarts = 5",
                "restarts = 100001",
                "/cfg/c.toml:9: sweep.restarts: must be at most 100000 (got 100001); 20 to 200 restarts per rank are usual",
            ),
            (
                "ranks = [4, 2, 3]",
                "ranks = [4, 2, 10001]",
                "/cfg/c.toml:8: sweep.ranks: rank 10001 is above the ceiling of 10000; NMF ranks are far smaller",
            ),
            (
                "max_iter = 100",
                "max_iter = 100000001",
                "/cfg/c.toml:12: stop.max_iter: must be at most 100000000 (got 100000001); a few thousand iterations are usual",
            ),
            (
                "check_every = 5",
                "check_every = 1000001",
                "/cfg/c.toml:14: stop.check_every: must be at most 1000000 (got 1000001); 10 is usual",
            ),
            (
                "threads = 2",
                "threads = 4097",
                "/cfg/c.toml:18: run.threads: must be at most 4096 (got 4097); 0 uses all cores, and more threads than \
                 cores are capped to the cores",
            ),
            (
                "threads = 2",
                "threads = 2\n[selection]\nheldout_repeats = 10001",
                "/cfg/c.toml:20: selection.heldout_repeats: must be at most 10000 (got 10001); 3 to 10 cross-validation \
                 repeats per rank are usual",
            ),
            (
                "ranks = [4, 2, 3]\nrestarts = 5",
                "ranks = [2, 3, 4, 5, 6, 7, 8, 9, 10, 11]\nrestarts = 100000",
                "/cfg/c.toml:7: sweep: 10 ranks x (100000 restarts + 3 heldout_repeats + 0 null_restarts) is 1000030 \
                 fits; at most 1000000 fits are allowed in one sweep: list fewer ranks or lower the counts",
            ),
        ];
        for (from, to, want) in cases {
            assert_eq!(message(&GOOD.replace(from, to)), want, "replacing {from:?} by {to:?}");
        }
        let ov = Overrides {
            threads: Some(5000),
            out: None,
        };
        assert_eq!(
            parse(GOOD, Path::new("/cfg/c.toml"), &ov).unwrap_err().to_string(),
            "<command line>: --threads: must be at most 4096 (got 5000); 0 uses all cores, and more threads than cores \
             are capped to the cores"
        );
        let p = parse_str(&GOOD.replace("threads = 2", "threads = 2\nmemory_limit_mb = 512")).unwrap();
        assert_eq!(p.data.memory_limit(), 512 << 20);
        assert_eq!(parse_str(GOOD).unwrap().data.memory_limit_mb, 0);
    }

    #[test]
    fn ranks_against_data() {
        let p = parse_str(GOOD).unwrap();
        assert_eq!(p.check_ranks(10, 3, false).unwrap().len(), 1);
        assert!(p.check_ranks(10, 10, false).unwrap().is_empty());
        assert_eq!(
            p.check_ranks(3, 2, false).unwrap_err().to_string(),
            "/cfg/c.toml:8: sweep.ranks: rank 4 is larger than both dimensions of the data (3 x 2); use ranks of at most 3"
        );
    }

    #[test]
    fn image_shape_is_checked_against_the_features() {
        let text = GOOD.replace("dataset = \"X\"\n", "dataset = \"X\"\nimage_shape = [8, 6]\n");
        let p = parse_str(&text).unwrap();
        let s = p.data.image_shape.unwrap();
        assert_eq!((s.height, s.width, s.line), (8, 6, 5));
        p.check_image_shape(48).unwrap();
        assert_eq!(
            p.check_image_shape(50).unwrap_err().to_string(),
            "/cfg/c.toml:5: data.image_shape: [8, 6] is 48 pixels, but each observation (row of X) has 50 features; \
             give a shape whose height x width is 50, or remove image_shape"
        );
        assert_eq!(
            p.check_image_shape(50).unwrap_err().exit_code(),
            crate::error::exit::CONFIG
        );
        for bad in ["[8]", "[0, 6]", "[8, 6, 1]", "[-2, 3]"] {
            let text = GOOD.replace("dataset = \"X\"\n", &format!("dataset = \"X\"\nimage_shape = {bad}\n"));
            let m = message(&text);
            assert!(
                m.starts_with("/cfg/c.toml:5: data.image_shape: must be two integers [height, width]"),
                "{bad}: {m}"
            );
        }
        assert!(parse_str(GOOD).unwrap().data.image_shape.is_none());
    }
}
