//! A reference catalogue (`[report] reference`): a TSV file whose first column holds the feature
//! names and whose header row holds the signature names, one column per reference signature (as
//! COSMIC's mutational signatures: 96 mutation types x ~80 signatures). It is read and checked
//! with the data, before any fit, and lined up with the data's features ([`Catalogue::align`]):
//! by name when the data has feature names, else by position.

use super::text::{Lines, number};
use crate::error::{Error, Result};
use ndarray::Array2;
use std::collections::HashMap;
use std::io::BufReader;
use std::path::{Path, PathBuf};

/// The least fraction of the catalogue's features that must be found among the data's feature
/// names (matching by name); below it the catalogue is refused.
pub const MIN_FEATURES_FOUND: f64 = 0.8;

/// A reference catalogue as read: `values[[f, s]]` is feature `f` of signature `s`.
#[derive(Debug, Clone)]
pub struct Catalogue {
    /// The file.
    pub path: PathBuf,
    /// Feature names (first column), distinct.
    pub features: Vec<String>,
    /// Signature names (header row after its first field), distinct.
    pub signatures: Vec<String>,
    /// Features x signatures, finite and ≥ 0, no signature all zero.
    pub values: Array2<f64>,
}

/// A catalogue lined up with the data's p features: only the features both have.
#[derive(Debug, Clone)]
pub struct AlignedReference {
    /// The catalogue file.
    pub path: PathBuf,
    /// Signature names.
    pub signatures: Vec<String>,
    /// The data column (0..p) of each feature used.
    pub columns: Vec<usize>,
    /// Signatures x features used (in the order of `columns`).
    pub reference: Array2<f64>,
    /// Whether features were matched by name (else by position).
    pub by_name: bool,
    /// The catalogue's number of features.
    pub catalogue_features: usize,
}

fn fault(path: &Path, message: String) -> Error {
    Error::DataFile {
        path: path.to_path_buf(),
        message: format!("reference catalogue ([report] reference): {message}"),
    }
}

/// Reads and checks the catalogue at `path`.
pub fn read_catalogue(path: &Path) -> Result<Catalogue> {
    let file = std::fs::File::open(path).map_err(|e| {
        fault(
            path,
            format!("cannot be opened: {e}; check the path (relative to the config file's folder)"),
        )
    })?;
    parse(path, BufReader::new(file))
}

/// Parses catalogue text read from `reader` (`path` names it in messages).
fn parse(path: &Path, reader: impl std::io::BufRead) -> Result<Catalogue> {
    let mut lines = Lines::new(reader);
    let layout = "a TSV with the feature names in the first column and a header row of signature names";
    let Some((_, header)) = lines.next_line().map_err(|m| fault(path, m))? else {
        return Err(fault(path, format!("is empty; it must be {layout}")));
    };
    let signatures: Vec<String> = header.split('\t').skip(1).map(|s| s.trim().to_string()).collect();
    if signatures.is_empty() {
        return Err(fault(
            path,
            format!("line 1: the header has no signature names (no tab); it must be {layout}"),
        ));
    }
    let mut seen = HashMap::new();
    for (k, name) in signatures.iter().enumerate() {
        if name.is_empty() {
            return Err(fault(
                path,
                format!(
                    "line 1: column {} has an empty signature name; name every signature",
                    k + 2
                ),
            ));
        }
        if let Some(first) = seen.insert(name.as_str(), k) {
            return Err(fault(
                path,
                format!(
                    "line 1: signature \"{name}\" is named twice (columns {} and {}); give each signature its own name",
                    first + 2,
                    k + 2
                ),
            ));
        }
    }
    let s = signatures.len();
    let mut features = Vec::new();
    let mut feature_line: HashMap<String, usize> = HashMap::new();
    let mut values = Vec::new();
    while let Some((line_no, line)) = lines.next_line().map_err(|m| fault(path, m))? {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        if fields.len() != s + 1 {
            return Err(fault(
                path,
                format!(
                    "line {line_no}: {} fields, but the header names {s} signatures (so {} fields: the feature name \
                     and one value per signature); separate fields by tabs",
                    fields.len(),
                    s + 1
                ),
            ));
        }
        let name = fields[0].trim().to_string();
        if name.is_empty() {
            return Err(fault(
                path,
                format!("line {line_no}: the feature name (first field) is empty"),
            ));
        }
        if let Some(first) = feature_line.insert(name.clone(), line_no) {
            return Err(fault(
                path,
                format!("line {line_no}: feature \"{name}\" is listed twice (lines {first} and {line_no})"),
            ));
        }
        for (k, field) in fields[1..].iter().enumerate() {
            let v = number(field.trim()).ok_or_else(|| {
                fault(
                    path,
                    format!(
                        "line {line_no}: \"{field}\" (signature \"{}\") is not a number",
                        signatures[k]
                    ),
                )
            })?;
            if !v.is_finite() || v < 0.0 {
                return Err(fault(
                    path,
                    format!(
                        "line {line_no}: {} (signature \"{}\", feature \"{name}\"); a catalogue holds finite values ≥ 0",
                        if v.is_nan() {
                            "missing or NaN value".to_string()
                        } else {
                            format!("value {v}")
                        },
                        signatures[k]
                    ),
                ));
            }
            values.push(v);
        }
        features.push(name);
    }
    if features.is_empty() {
        return Err(fault(
            path,
            format!("has a header but no feature rows; it must be {layout}"),
        ));
    }
    let values = Array2::from_shape_vec((features.len(), s), values)
        .map_err(|e| fault(path, format!("cannot be shaped: {e}")))?;
    if let Some(k) = (0..s).find(|&k| values.column(k).iter().all(|&v| v == 0.0)) {
        return Err(fault(
            path,
            format!(
                "signature \"{}\" (column {}) is all zero; its cosine similarity is undefined: remove it",
                signatures[k],
                k + 2
            ),
        ));
    }
    Ok(Catalogue {
        path: path.to_path_buf(),
        features,
        signatures,
        values,
    })
}

impl Catalogue {
    /// Lines the catalogue up with the data's `p` features. With `var_names`, by name: the
    /// features both have (a name the data lists twice counts at its first column), refused
    /// when fewer than [`MIN_FEATURES_FOUND`] of the catalogue's are found. Without names, by
    /// position: the catalogue must have p features.
    pub fn align(self, var_names: Option<&[String]>, p: usize) -> Result<AlignedReference> {
        let total = self.features.len();
        let (rows, columns): (Vec<usize>, Vec<usize>) = match var_names {
            Some(names) => {
                let mut at: HashMap<&str, usize> = HashMap::new();
                for (j, n) in names.iter().enumerate() {
                    at.entry(n.as_str()).or_insert(j);
                }
                let pairs: Vec<(usize, usize)> = self
                    .features
                    .iter()
                    .enumerate()
                    .filter_map(|(f, n)| at.get(n.as_str()).map(|&j| (f, j)))
                    .collect();
                if (pairs.len() as f64) < MIN_FEATURES_FOUND * total as f64 || pairs.is_empty() {
                    let missing: Vec<String> = self
                        .features
                        .iter()
                        .filter(|n| !at.contains_key(n.as_str()))
                        .take(5)
                        .map(|n| format!("\"{n}\""))
                        .collect();
                    return Err(fault(
                        &self.path,
                        format!(
                            "only {} of its {total} features are among the data's {p} feature names (at least {:.0}% \
                             must be), e.g. missing: {}; the first column must use the data's feature names \
                             ([data] var_names or the file's own)",
                            pairs.len(),
                            MIN_FEATURES_FOUND * 100.0,
                            missing.join(", ")
                        ),
                    ));
                }
                pairs.into_iter().unzip()
            }
            None if total == p => ((0..p).collect(), (0..p).collect()),
            None => {
                return Err(fault(
                    &self.path,
                    format!(
                        "has {total} features but the data has {p}, and the data has no feature names to match them \
                         by: give the data's feature names ([data] var_names), or a catalogue with one row per \
                         feature of the data, in the data's order"
                    ),
                ));
            }
        };
        let s = self.signatures.len();
        let reference = Array2::from_shape_fn((s, rows.len()), |(k, i)| self.values[[rows[i], k]]);
        Ok(AlignedReference {
            path: self.path,
            signatures: self.signatures,
            columns,
            reference,
            by_name: var_names.is_some(),
            catalogue_features: total,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cat(text: &str) -> Result<Catalogue> {
        parse(Path::new("cat.tsv"), text.as_bytes())
    }

    fn message(text: &str) -> String {
        let e = cat(text).unwrap_err();
        assert_eq!(e.exit_code(), crate::error::exit::DATA);
        e.to_string()
    }

    #[test]
    fn reads_features_and_signatures() {
        let c = cat("Type\tS1\tS2\nA[C>A]A\t0.5\t0\nA[C>G]A\t0.5\t1\n").unwrap();
        assert_eq!(c.signatures, ["S1", "S2"]);
        assert_eq!(c.features, ["A[C>A]A", "A[C>G]A"]);
        assert_eq!(c.values[[1, 1]], 1.0);
    }

    #[test]
    fn bad_catalogues_name_file_and_line() {
        let m = message("Type\tS1\tS1\na\t1\t2\n");
        assert!(
            m.contains("cat.tsv") && m.contains("line 1") && m.contains("named twice"),
            "{m}"
        );
        let m = message("Type\tS1\na\t1\nb\tx\n");
        assert!(m.contains("line 3") && m.contains("not a number"), "{m}");
        let m = message("Type\tS1\na\t1\nb\t-1\n");
        assert!(m.contains("line 3") && m.contains("value -1"), "{m}");
        let m = message("Type\tS1\na\t1\nb\tNaN\n");
        assert!(m.contains("line 3") && m.contains("NaN"), "{m}");
        let m = message("Type\tS1\na\t1\na\t2\n");
        assert!(m.contains("line 3") && m.contains("listed twice"), "{m}");
        let m = message("Type\tS1\na\t1\t2\n");
        assert!(m.contains("line 2") && m.contains("3 fields"), "{m}");
        assert!(message("").contains("is empty"));
        assert!(message("Type,S1\n").contains("no signature names"));
        assert!(message("Type\tS1\na\t0\n").contains("all zero"));
        assert!(message("Type\tS1\n").contains("no feature rows"));
    }

    #[test]
    fn aligns_by_name_or_position() {
        let c = cat("Type\tS1\tS2\na\t1\t2\nb\t3\t4\nc\t5\t6\nd\t7\t8\ne\t9\t10\n").unwrap();
        let names: Vec<String> = ["e", "x", "d", "c", "b", "a"].iter().map(|s| s.to_string()).collect();
        let a = c.clone().align(Some(&names), 6).unwrap();
        assert_eq!(a.columns, [5, 4, 3, 2, 0]);
        assert_eq!(a.reference.row(1).to_vec(), [2.0, 4.0, 6.0, 8.0, 10.0]);
        // 4 of 5 found is 80%: accepted; 3 of 5 is not.
        let four: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
        assert_eq!(c.clone().align(Some(&four), 4).unwrap().columns, [0, 1, 2, 3]);
        let e = c.clone().align(Some(&four[..3]), 3).unwrap_err();
        let m = e.to_string();
        assert!(
            m.contains("only 3 of its 5") && m.contains("\"d\"") && m.contains("cat.tsv"),
            "{m}"
        );
        assert_eq!(e.exit_code(), crate::error::exit::DATA);
        assert_eq!(c.clone().align(None, 5).unwrap().columns, [0, 1, 2, 3, 4]);
        assert!(
            c.align(None, 6)
                .unwrap_err()
                .to_string()
                .contains("has 5 features but the data has 6")
        );
    }
}
