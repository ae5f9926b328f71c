//! `format = "auto"`: telling the file's format from its first bytes and its name, before it is
//! opened by a reader. What an HDF5 file holds (AnnData, 10x, a sparse group, a dataset) is told
//! apart later, in `hdf5_reader`, once the file is open.

use super::{FORMATS, Format, Reader};
use crate::data::DataSpec;
use crate::error::{Error, Result};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// The 8-byte signature that starts an HDF5 superblock.
const HDF5_SIGNATURE: [u8; 8] = [0x89, b'H', b'D', b'F', b'\r', b'\n', 0x1a, b'\n'];

/// The first bytes of a gzip stream.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The format of the file at `path`: Matrix Market by its `%%MatrixMarket` header, CSV/TSV by the
/// extension; `Format::Auto` for an HDF5 file (its content is detected once open) and for a file
/// of no known kind (opening it as HDF5 then says what is wrong). A gzip-compressed file is an
/// error: compressed text input is not supported.
pub(crate) fn sniff(path: &Path) -> Result<Format> {
    let file_err = |message: String| Error::DataFile {
        path: path.to_path_buf(),
        message,
    };
    // By name, before the file is opened: NIfTI input may be a glob pattern, and a .nii.gz file
    // starts with the gzip signature.
    if super::nifti::names_nifti(path) {
        return Ok(Format::Nifti);
    }
    if !path.exists() {
        return Err(file_err(
            "file not found; check [data] path (relative paths start at the config file's folder)".into(),
        ));
    }
    let mut f = std::fs::File::open(path).map_err(|e| file_err(format!("cannot be read: {e}")))?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let mut head = [0u8; 16];
    let got = read_at(&mut f, 0, &mut head);
    classify(&head[..got], extension(path).as_deref(), |offset| {
        let mut sig = [0u8; 8];
        offset + 8 <= len && read_at(&mut f, offset, &mut sig) == 8 && sig == HDF5_SIGNATURE
    })
    .map_err(file_err)
}

/// Refuses a `[data] path` that cannot be a data file, whatever the format: a directory, a
/// symbolic link loop, a symbolic link to nothing. A path that does not exist is left to the
/// readers ("file not found").
pub(crate) fn check_path(path: &Path) -> Result<()> {
    let file_err = |message: String| Error::DataFile {
        path: path.to_path_buf(),
        message,
    };
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Err(file_err(
            "is a directory, not a data file; set [data] path to the data file (relative paths start at the config \
             file's folder)"
                .into(),
        )),
        Ok(_) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => Err(file_err(
            "is a symbolic link loop (following its links never reaches a file); set [data] path to the data file \
             itself, or fix the links"
                .into(),
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && path.is_symlink() => {
            let target = std::fs::read_link(path).map_or("?".to_string(), |t| t.display().to_string());
            Err(file_err(format!(
                "is a symbolic link to {target}, which does not exist; fix the link, or set [data] path to the data \
                 file itself"
            )))
        }
        Err(_) => Ok(()),
    }
}

/// Refuses a data path that is not a regular file: a FIFO (opening it for reading blocks until a
/// writer comes), a character or block device (`/dev/zero` never ends) or a socket. It is checked
/// with `stat` (following symbolic links) before the file is opened. A missing path and a
/// directory are left to the readers' own messages.
pub(crate) fn regular_file(path: &Path) -> Result<()> {
    use std::os::unix::fs::FileTypeExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(());
    };
    let t = meta.file_type();
    let what = if t.is_file() || t.is_dir() {
        return Ok(());
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "a special file"
    };
    Err(Error::DataFile {
        path: path.to_path_buf(),
        message: format!(
            "is {what}, not a regular file; reading it could block or never end: [data] path must name a regular \
             file (save the stream to a file first)"
        ),
    })
}

/// Reads up to `buf.len()` bytes at `offset`; returns how many were read (0 on any error).
fn read_at(f: &mut std::fs::File, offset: u64, buf: &mut [u8]) -> usize {
    if f.seek(SeekFrom::Start(offset)).is_err() {
        return 0;
    }
    let mut got = 0;
    while got < buf.len() {
        match f.read(&mut buf[got..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => got += k,
        }
    }
    got
}

/// The lower-case extension, with ".gz" kept as part of it ("mtx.gz").
fn extension(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?.to_ascii_lowercase();
    let (stem, ext) = name.rsplit_once('.')?;
    Some(match (ext, stem.rsplit_once('.')) {
        ("gz", Some((_, inner))) => format!("{inner}.gz"),
        _ => ext.to_string(),
    })
}

/// The decision of [`sniff`] from the file's first bytes, its extension, and a probe for the HDF5
/// signature at a byte offset (it may follow a user block of 512, 1024, 2048, ... bytes).
fn classify(head: &[u8], ext: Option<&str>, mut hdf5_at: impl FnMut(u64) -> bool) -> Result<Format, String> {
    if head.starts_with(&HDF5_SIGNATURE) {
        return Ok(Format::Auto);
    }
    let mut offset = 512;
    while offset <= 1 << 30 {
        if hdf5_at(offset) {
            return Ok(Format::Auto);
        }
        offset *= 2;
    }
    if let Some(f) = FORMATS.iter().find(|f| f.signature.is_some_and(|shows| shows(head))) {
        return Ok(f.format);
    }
    if head.starts_with(&GZIP_MAGIC) {
        return Err(
            "is gzip-compressed, which is not supported; decompress it first (gunzip -k FILE) and set [data] path \
             to the uncompressed file"
                .into(),
        );
    }
    Ok(FORMATS
        .iter()
        .find(|f| ext.is_some_and(|e| f.extensions.contains(&e)))
        .map_or(Format::Auto, |f| f.format))
}

/// A text file has no datasets, layers or name datasets: keys that name them are errors.
pub(crate) fn check_text_spec(spec: &DataSpec, format: Format) -> Result<()> {
    let (kind, names_from) = match format.info().reader {
        Reader::File { what, names, .. } => (what, names),
        Reader::Hdf5 { .. } => return Ok(()),
    };
    let key = if !spec.dataset.is_empty() {
        Some(("dataset", "names a matrix inside an HDF5 file"))
    } else if spec.mask.is_some() {
        Some(("mask", "names a dataset of missing-value flags inside an HDF5 file"))
    } else if spec.layer.is_some() {
        Some(("layer", "names a layer of an AnnData file"))
    } else if spec.obs_names.is_some() || spec.var_names.is_some() {
        let key = if spec.obs_names.is_some() {
            "obs_names"
        } else {
            "var_names"
        };
        return Err(Error::DataFile {
            path: spec.path.clone(),
            message: format!(
                "is {kind}, read as format \"{}\": [data] {key} names a dataset of an HDF5 file, and {names_from}; \
                 remove {key}",
                format.name()
            ),
        });
    } else {
        None
    };
    match key {
        None => Ok(()),
        Some((key, what)) => Err(Error::DataFile {
            path: spec.path.clone(),
            message: format!(
                "is {kind}, read as format \"{}\": [data] {key} {what}; remove it (or set [data] format if the \
                 file is not {kind})",
                format.name()
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_hdf5(_: u64) -> bool {
        false
    }

    #[test]
    fn signatures_come_before_extensions() {
        let mut hdf5 = HDF5_SIGNATURE.to_vec();
        hdf5.extend_from_slice(b"rest");
        assert_eq!(classify(&hdf5, Some("csv"), no_hdf5), Ok(Format::Auto));
        assert_eq!(
            classify(b"%%MatrixMarket matrix", Some("txt"), no_hdf5),
            Ok(Format::Mtx)
        );
        assert_eq!(classify(b"%%matrixmarket matrix", None, no_hdf5), Ok(Format::Mtx));
        assert_eq!(classify(b"a,b\n1,2\n", Some("csv"), no_hdf5), Ok(Format::Csv));
        assert_eq!(classify(b"a\tb\n1\t2\n", Some("tsv"), no_hdf5), Ok(Format::Tsv));
        assert_eq!(classify(b"1 2 3", Some("mtx"), no_hdf5), Ok(Format::Mtx));
        // Unknown: left to the HDF5 library, whose error says what it found.
        assert_eq!(classify(b"a,b\n1,2\n", Some("h5"), no_hdf5), Ok(Format::Auto));
        assert_eq!(classify(b"", None, no_hdf5), Ok(Format::Auto));
    }

    #[test]
    fn hdf5_after_a_user_block_is_found() {
        let mut probed = Vec::new();
        let got = classify(b"user block text", Some("csv"), |o| {
            probed.push(o);
            o == 2048
        });
        assert_eq!(got, Ok(Format::Auto));
        assert_eq!(probed, vec![512, 1024, 2048]);
    }

    #[test]
    fn gzip_is_refused_with_the_fix() {
        let e = classify(&[0x1f, 0x8b, 8, 0], Some("mtx.gz"), no_hdf5).unwrap_err();
        assert!(
            e.starts_with("is gzip-compressed, which is not supported; decompress it first"),
            "{e}"
        );
    }

    #[test]
    fn extensions_are_case_insensitive_and_keep_gz() {
        assert_eq!(extension(Path::new("/a/B.CSV")).as_deref(), Some("csv"));
        assert_eq!(extension(Path::new("m.mtx.gz")).as_deref(), Some("mtx.gz"));
        assert_eq!(extension(Path::new("x.gz")).as_deref(), Some("gz"));
        assert_eq!(extension(Path::new("noext")), None);
    }
}
