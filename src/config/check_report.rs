//! `[report]`: extra outputs. `reference` names a reference catalogue (a TSV of features x
//! signatures) the components of every rank are matched to; the file itself is read and checked
//! with the data (`crate::data::read_catalogue`).

use super::raw::RawReport;
use super::validate::Checker;
use crate::error::Result;
use std::path::PathBuf;

impl Checker<'_> {
    /// The reference catalogue's path (relative to the config file's folder), if given.
    pub(super) fn report(&self, report: RawReport) -> Result<Option<PathBuf>> {
        match report.reference {
            None => Ok(None),
            Some(r) if r.get_ref().trim().is_empty() => Err(self.err(
                "report.reference",
                &r,
                "is empty; give the catalogue's path (a TSV: feature names in the first column, one column per \
                 signature), or remove reference"
                    .into(),
            )),
            Some(r) => Ok(Some(self.resolve(r.get_ref()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Overrides, parse};
    use std::path::Path;

    const BASE: &str = "[data]\npath = \"x.h5\"\ndataset = \"X\"\n[sweep]\nranks = [2]\n";

    #[test]
    fn reference_is_resolved_beside_the_config() {
        let plan = parse(BASE, Path::new("/cfg/c.toml"), &Overrides::default()).unwrap();
        assert_eq!(plan.reference, None);
        assert!(!plan.settings().iter().any(|s| s.key == "reference"));
        let text = format!("{BASE}[report]\nreference = \"cosmic.tsv\"\n");
        let plan = parse(&text, Path::new("/cfg/c.toml"), &Overrides::default()).unwrap();
        assert_eq!(plan.reference.as_deref(), Some(Path::new("/cfg/cosmic.tsv")));
        assert!(plan.settings().iter().any(|s| s.key == "reference"));
    }

    #[test]
    fn empty_or_unknown_keys_are_refused() {
        let text = format!("{BASE}[report]\nreference = \" \"\n");
        let e = parse(&text, Path::new("c.toml"), &Overrides::default()).unwrap_err();
        let m = e.to_string();
        assert!(
            m.contains("c.toml:7") && m.contains("report.reference") && m.contains("is empty"),
            "{m}"
        );
        assert_eq!(e.exit_code(), crate::error::exit::CONFIG);
        let text = format!("{BASE}[report]\nrefrence = \"a.tsv\"\n");
        let m = parse(&text, Path::new("c.toml"), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(m.contains("did you mean `reference`"), "{m}");
    }
}
