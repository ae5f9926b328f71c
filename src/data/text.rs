//! What the text readers (Matrix Market, CSV/TSV) share: numbered lines and the spelling of
//! numbers and missing values.

use std::io::BufRead;

/// Reads a text file line by line, numbering the lines from 1, without the line ending (and
/// without a UTF-8 byte order mark at the start of the file).
pub(crate) struct Lines<R> {
    reader: R,
    buf: String,
    number: usize,
}

impl<R: BufRead> Lines<R> {
    /// Lines of `reader`.
    pub fn new(reader: R) -> Self {
        Lines {
            reader,
            buf: String::new(),
            number: 0,
        }
    }

    /// The next line and its number, or None at the end; an error names the line that is not
    /// UTF-8 text or could not be read.
    pub fn next_line(&mut self) -> Result<Option<(usize, &str)>, String> {
        self.buf.clear();
        self.number += 1;
        match self.reader.read_line(&mut self.buf) {
            Ok(0) => Ok(None),
            Ok(_) => {
                let mut line = self.buf.trim_end_matches(['\n', '\r']);
                if self.number == 1 {
                    line = line.strip_prefix('\u{feff}').unwrap_or(line);
                }
                Ok(Some((self.number, line)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => Err(format!(
                "line {}: not UTF-8 text; is it a text file (or set [data] format)?",
                self.number
            )),
            Err(e) => Err(format!("line {}: cannot be read: {e}", self.number)),
        }
    }
}

/// The spellings of a missing value in text input.
pub(crate) const MISSING: [&str; 4] = ["NaN", "nan", "NA", ""];

/// The value of a numeric field: a decimal number (Rust's `f64` syntax, which includes `1e-3`,
/// `inf` and `NaN`), or NaN for a missing value (see [`MISSING`]); None when it is not a number.
pub(crate) fn number(field: &str) -> Option<f64> {
    if MISSING.contains(&field) {
        return Some(f64::NAN);
    }
    field.parse::<f64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_missing_values() {
        assert_eq!(number("3"), Some(3.0));
        assert_eq!(number("-1.5e2"), Some(-150.0));
        assert_eq!(number("inf"), Some(f64::INFINITY));
        assert!(number("NA").is_some_and(f64::is_nan));
        assert!(number("").is_some_and(f64::is_nan));
        assert!(number("nan").is_some_and(f64::is_nan));
        assert_eq!(number("gene1"), None);
        assert_eq!(number("1,5"), None);
    }

    #[test]
    fn lines_are_numbered_without_endings_or_bom() {
        let text = "\u{feff}a\r\nb\n\nc";
        let mut l = Lines::new(text.as_bytes());
        let mut got = Vec::new();
        while let Some((n, s)) = l.next_line().unwrap() {
            got.push((n, s.to_string()));
        }
        assert_eq!(
            got,
            vec![(1, "a".into()), (2, "b".into()), (3, "".into()), (4, "c".into())]
        );
        let mut bad = Lines::new(&b"ok\n\xff\xfe\n"[..]);
        assert!(bad.next_line().unwrap().is_some());
        assert_eq!(
            bad.next_line().unwrap_err(),
            "line 2: not UTF-8 text; is it a text file (or set [data] format)?"
        );
    }
}
