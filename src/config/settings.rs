//! The one list of a plan's settings: what the sweep manifest records, what the fingerprint of the
//! fit records hashes, and what results.h5 stores as root attributes all come from
//! [`Plan::settings`]. A new setting is one entry here (plus its key in the config).

use super::Plan;
use crate::nmf::Resample;
use crate::nmf::fit::Convergence;

/// A typed value written as a results.h5 root attribute.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    /// A UTF-8 string.
    Text(String),
    /// An unsigned count.
    U64(u64),
    /// A float.
    F64(f64),
    /// A list of counts (a 1-D attribute).
    U64s(Vec<u64>),
}

/// Whether a setting changes a fit's result (and so belongs in the records' fingerprint).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A fit depends on it: hashed into the fingerprint (in list order), and in the manifest.
    Fit,
    /// Only the sweep as a whole depends on it: in the manifest, not in the fingerprint.
    Sweep,
}

/// One setting of a plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    /// Its key in the manifest and its label in the fingerprint.
    pub key: &'static str,
    /// Its value as text, as the manifest records it and the fingerprint hashes it.
    pub text: String,
    /// Whether a fit depends on it.
    pub role: Role,
    /// The results.h5 root attributes that store it (none for settings results.h5 records
    /// otherwise, e.g. the input's provenance).
    pub attrs: Vec<(&'static str, AttrValue)>,
}

fn setting(key: &'static str, text: String, role: Role, attrs: Vec<(&'static str, AttrValue)>) -> Setting {
    Setting { key, text, role, attrs }
}

fn count(n: usize) -> AttrValue {
    AttrValue::U64(n as u64)
}

impl Plan {
    /// Every setting of the plan, fit settings in fingerprint order. Settings that depend on the
    /// data as well (the precision `auto` resolves to, the solver of fits with left-out entries)
    /// are results.h5's own: it records the effective value beside these.
    ///
    /// `resample` is listed only when it is not "none": a sweep without resampling keeps the
    /// manifest, fingerprint and results.h5 attributes of the versions before the key existed,
    /// so its output directories stay valid for resume and merge, and its outputs the same bytes.
    pub fn settings(&self) -> Vec<Setting> {
        use AttrValue::{F64, Text, U64s};
        use Role::{Fit, Sweep};
        let (stop, sel, pen, data) = (&self.stop, &self.selection, &self.penalty, &self.data);
        let list = |v: &[usize]| v.iter().map(|r| r.to_string()).collect::<Vec<_>>().join(",");
        let name = |s: &str| Text(s.to_string());
        let mut stop_attrs = vec![("stop_rule", name(stop.rule.name()))];
        if let Convergence::Assignment { checks } = stop.rule {
            stop_attrs.push(("stationary_checks", count(checks.get())));
        }
        let mut all = vec![
            setting("data_path", data.path.display().to_string(), Sweep, vec![]),
            setting("data_dataset", data.dataset.clone(), Sweep, vec![]),
            setting("transpose", data.transpose.to_string(), Sweep, vec![]),
            setting("obs_names", data.obs_names.clone().unwrap_or_default(), Sweep, vec![]),
            setting("var_names", data.var_names.clone().unwrap_or_default(), Sweep, vec![]),
            setting(
                "loss",
                self.loss.name().into(),
                Fit,
                vec![("loss", name(self.loss.name()))],
            ),
            setting(
                "solver",
                self.solver.name().into(),
                Fit,
                vec![("solver", name(self.solver.name()))],
            ),
            setting(
                "init",
                self.init.name().into(),
                Fit,
                vec![("init", name(self.init.name()))],
            ),
            setting(
                "seed",
                self.seed.to_string(),
                Fit,
                vec![("seed", AttrValue::U64(self.seed))],
            ),
            setting(
                "max_iter",
                stop.max_iter.to_string(),
                Fit,
                vec![("max_iter", count(stop.max_iter.get()))],
            ),
            setting("tol", format!("{:e}", stop.tol), Fit, vec![("tol", F64(stop.tol))]),
            setting(
                "check_every",
                stop.check_every.to_string(),
                Fit,
                vec![("check_every", count(stop.check_every.get()))],
            ),
            setting("stop_rule", format!("{:?}", stop.rule), Fit, stop_attrs),
            setting(
                "heldout_fraction",
                format!("{:e}", sel.heldout_fraction.get()),
                Fit,
                vec![("heldout_fraction", F64(sel.heldout_fraction.get()))],
            ),
            setting(
                "penalty",
                format!("{pen:?}"),
                Fit,
                vec![
                    ("l1_w", F64(pen.l1_w)),
                    ("l1_h", F64(pen.l1_h)),
                    ("l2_w", F64(pen.l2_w)),
                    ("l2_h", F64(pen.l2_h)),
                ],
            ),
            setting("precision", self.precision.name().into(), Fit, vec![]),
        ];
        if self.resample != Resample::None {
            all.push(setting(
                "resample",
                self.resample.name().into(),
                Fit,
                vec![("resample", name(self.resample.name()))],
            ));
        }
        all.extend([
            setting(
                "ranks",
                list(&self.ranks),
                Sweep,
                vec![("ranks", U64s(self.ranks.iter().map(|&r| r as u64).collect()))],
            ),
            setting(
                "restarts",
                self.restarts.to_string(),
                Sweep,
                vec![("restarts", count(self.restarts.get()))],
            ),
            setting("rule", sel.rule.name().into(), Sweep, vec![]),
            setting(
                "heldout_repeats",
                sel.heldout_repeats.to_string(),
                Sweep,
                vec![("heldout_repeats", count(sel.heldout_repeats))],
            ),
            setting(
                "null_restarts",
                sel.null_restarts.to_string(),
                Sweep,
                vec![("null_restarts", count(sel.null_restarts))],
            ),
            setting("consensus_max_mb", sel.consensus_max_mb.to_string(), Sweep, vec![]),
            setting("config_path", self.config_path.display().to_string(), Sweep, vec![]),
        ]);
        // Only when set, so that a sweep without it records exactly what it did before.
        if let Some(r) = &self.reference {
            let path = r.display().to_string();
            all.push(setting(
                "reference",
                path.clone(),
                Sweep,
                vec![("reference", Text(path))],
            ));
        }
        // Only when not the default, for the same reason.
        if sel.solution != crate::stats::Solution::Best {
            all.push(setting(
                "solution",
                sel.solution.name().into(),
                Sweep,
                vec![("solution", name(sel.solution.name()))],
            ));
        }
        all
    }

    /// The text the records' fingerprint hashes: program version, the data's checksum, and every
    /// [`Role::Fit`] setting in list order, one `key value` line each.
    pub fn fingerprint_text(&self, data_sha256: &str) -> String {
        let mut text = format!("nnmf-sweep {}\ndata {data_sha256}\n", env!("CARGO_PKG_VERSION"));
        for s in self.settings().into_iter().filter(|s| s.role == Role::Fit) {
            text.push_str(&format!("{} {}\n", s.key, s.text));
        }
        text
    }
}

#[cfg(test)]
mod tests {

    use crate::config::{Overrides, parse};
    use std::path::Path;

    #[test]
    fn keys_are_distinct_and_attrs_are_distinct() {
        let text = "[data]\npath = \"x.h5\"\ndataset = \"X\"\n[sweep]\nranks = [2, 3]\n[stop]\nrule = \"assignment\"\n";
        let plan = parse(text, Path::new("/tmp/c.toml"), &Overrides::default()).unwrap();
        let s = plan.settings();
        let mut keys: Vec<_> = s.iter().map(|s| s.key).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), s.len());
        let mut attrs: Vec<_> = s.iter().flat_map(|s| s.attrs.iter().map(|a| a.0)).collect();
        let n = attrs.len();
        attrs.sort();
        attrs.dedup();
        assert_eq!(attrs.len(), n);
        assert!(attrs.contains(&"stationary_checks"));
        let fp = plan.fingerprint_text("abc");
        assert!(fp.starts_with(&format!(
            "nnmf-sweep {}\ndata abc\nloss kl\nsolver cd\n",
            env!("CARGO_PKG_VERSION")
        )));
        assert!(fp.ends_with("precision auto\n"), "{fp}");
    }

    #[test]
    fn resample_is_a_fit_setting_listed_only_when_on() {
        let base = "[data]\npath = \"x.h5\"\ndataset = \"X\"\n[sweep]\nranks = [2, 3]\n";
        let parse_with = |extra: &str| {
            parse(
                &format!("{base}{extra}"),
                Path::new("/tmp/c.toml"),
                &Overrides::default(),
            )
            .unwrap()
        };
        let off = parse_with("");
        let none = parse_with("resample = \"none\"\n");
        let on = parse_with("resample = \"poisson\"\n");
        // "none" is the sweep of before the key: same settings, same fingerprint.
        assert_eq!(off.settings(), none.settings());
        assert_eq!(off.fingerprint_text("abc"), none.fingerprint_text("abc"));
        assert!(off.settings().iter().all(|s| s.key != "resample"));
        let r = on.settings().into_iter().find(|s| s.key == "resample").unwrap();
        assert_eq!(r.role, super::Role::Fit);
        assert_eq!(r.attrs, vec![("resample", super::AttrValue::Text("poisson".into()))]);
        assert!(on.fingerprint_text("abc").contains("\nresample poisson\n"));
        assert_ne!(off.fingerprint_text("abc"), on.fingerprint_text("abc"));
    }
}
