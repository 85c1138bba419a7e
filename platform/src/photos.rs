//! Learners' photos in bulk (issue 12, R-ID-1): a ZIP given to
//! `admin import-learners --photos` holds images named by ID number —
//! `<ID>.jpg`, `<ID>.png` or `<ID>-face.jpg` is the registration face photo,
//! `<ID>-idcard.jpg` the photo of the ID card. Only an entry's file name counts
//! (folders inside the ZIP are ignored, nothing is ever written by an entry's
//! name). Each image is sniffed (JPEG or PNG by its first bytes), at most 2 MiB,
//! and stored in the blob store by SHA-256; the learner row keeps the hash.
//!
//! The ZIP is read twice: once to check every entry (keeping only hashes), then,
//! once the import is decided, to store the photos of the rows imported (each
//! checked against its first hash again). Zip bombs are bounded: at most
//! [`Limits::max_entries`] entries, each read at most
//! [`Limits::max_photo_bytes`] + 1 bytes whatever its header claims, and
//! [`Limits::max_total_bytes`] uncompressed in all.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::blob::BlobStore;
use crate::import::{Rejected, RowCode};

/// Bounds on a photos ZIP.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most entries (folders included).
    pub max_entries: usize,
    /// Largest photo, bytes.
    pub max_photo_bytes: u64,
    /// Most bytes read out of the ZIP in all.
    pub max_total_bytes: u64,
}

impl Default for Limits {
    /// 250,000 entries (two photos each for 100,000 learners and some), 2 MiB a
    /// photo, 16 GiB in all.
    fn default() -> Self {
        Limits {
            max_entries: 250_000,
            max_photo_bytes: 2 << 20,
            max_total_bytes: 16 << 30,
        }
    }
}

/// Why the ZIP as a whole is refused (nothing is imported).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PhotoError {
    /// The file cannot be read.
    #[error("reading the photos ZIP: {0}")]
    Io(#[from] std::io::Error),
    /// Not a ZIP archive.
    #[error("the photos file is not a readable ZIP: {0}")]
    Zip(#[from] zip::result::ZipError),
    /// More entries than [`Limits::max_entries`].
    #[error("the photos ZIP has {0} entries, at most {1} are taken")]
    TooManyEntries(usize, usize),
    /// More bytes than [`Limits::max_total_bytes`].
    #[error("the photos ZIP unpacks to more than {0} bytes")]
    TooLarge(u64),
    /// An entry changed between the check and the storing.
    #[error("ZIP entry {0:?} changed while it was imported")]
    Changed(String),
}

/// One photo checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Photo {
    /// Its index in the ZIP.
    pub index: usize,
    /// Its name in the ZIP.
    pub entry: String,
    /// SHA-256 hex: the blob key and the learner's reference.
    pub sha256: String,
    /// `image/jpeg` or `image/png`.
    pub content_type: &'static str,
}

/// The photos of one learner.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LearnerPhotos {
    /// Face photo (`learners.face_photo_ref`).
    pub face: Option<Photo>,
    /// ID-card photo (`learners.idcard_photo_ref`).
    pub idcard: Option<Photo>,
}

/// The photos of the ZIP by ID number, and the entries refused.
#[derive(Debug, Default)]
pub struct Checked {
    /// Photos by ID number (upper-case check character).
    pub photos: HashMap<String, LearnerPhotos>,
    /// Entries refused (`bad_photo`, `photo_without_learner`).
    pub rejected: Vec<Rejected>,
}

/// The image type of `bytes` by its magic number.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else {
        None
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Face,
    IdCard,
}

/// `(ID number, kind)` from an entry's file name, `None` when it is not a photo
/// name.
fn parse_name(file_name: &str) -> Option<(String, Kind)> {
    let (stem, ext) = file_name.rsplit_once('.')?;
    if !matches!(ext.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png") {
        return None;
    }
    let lower = stem.to_ascii_lowercase();
    let (id, kind) = if let Some(id) = lower.strip_suffix("-idcard") {
        (id, Kind::IdCard)
    } else if let Some(id) = lower.strip_suffix("-face") {
        (id, Kind::Face)
    } else {
        (lower.as_str(), Kind::Face)
    };
    crate::import::id_number_valid(&id.to_uppercase()).then(|| (id.to_uppercase(), kind))
}

/// Reads entry `index` bounded by `limits`: `Ok(Err(why))` for a refused entry.
fn read_entry<R: Read + std::io::Seek>(
    zip: &mut zip::ZipArchive<R>,
    index: usize,
    limits: &Limits,
    total: &mut u64,
) -> Result<Result<Vec<u8>, String>, PhotoError> {
    let file = match zip.by_index(index) {
        Ok(f) => f,
        Err(e) => return Ok(Err(format!("cannot be read: {e}"))),
    };
    if file.size() > limits.max_photo_bytes {
        return Ok(Err(format!(
            "{} bytes; a photo has at most {}",
            file.size(),
            limits.max_photo_bytes
        )));
    }
    let mut bytes = Vec::new();
    if let Err(e) = file
        .take(limits.max_photo_bytes + 1)
        .read_to_end(&mut bytes)
    {
        return Ok(Err(format!("cannot be unpacked: {e}")));
    }
    *total += bytes.len() as u64;
    if *total > limits.max_total_bytes {
        return Err(PhotoError::TooLarge(limits.max_total_bytes));
    }
    if bytes.len() as u64 > limits.max_photo_bytes {
        return Ok(Err(format!(
            "more than {} bytes unpacked",
            limits.max_photo_bytes
        )));
    }
    Ok(Ok(bytes))
}

/// Checks every entry of the ZIP at `path`. `id_rows` maps the file's ID
/// numbers to their rows (the row of a photo's refusal; 0 when its ID number is
/// on no row), `good` holds those of rows that will be imported: photos of a
/// refused row are skipped without a second report.
pub fn check_zip(
    path: &Path,
    id_rows: &HashMap<String, u64>,
    good: &HashSet<String>,
    limits: &Limits,
) -> Result<Checked, PhotoError> {
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(std::fs::File::open(path)?))?;
    if zip.len() > limits.max_entries {
        return Err(PhotoError::TooManyEntries(zip.len(), limits.max_entries));
    }
    let mut out = Checked::default();
    let mut total = 0u64;
    for index in 0..zip.len() {
        let (entry, is_dir) = match zip.by_index_raw(index) {
            Ok(f) => (f.name().to_owned(), f.is_dir()),
            Err(e) => return Err(PhotoError::Zip(e)),
        };
        // Only the file name counts: folders, `..` and drive letters do not.
        let file_name = entry.rsplit(['/', '\\']).next().unwrap_or("").to_owned();
        if is_dir || file_name.is_empty() || file_name.starts_with('.') {
            continue;
        }
        let reject = |row: u64, code: RowCode, message: String| Rejected {
            row,
            code,
            message,
            entry: Some(entry.clone()),
        };
        let Some((id, kind)) = parse_name(&file_name) else {
            out.rejected.push(reject(
                0,
                RowCode::BadPhoto,
                format!("{entry:?} is not named <ID number>.jpg, <ID number>-face.jpg or <ID number>-idcard.jpg (or .png)"),
            ));
            continue;
        };
        let Some(&row) = id_rows.get(&id) else {
            out.rejected.push(reject(
                0,
                RowCode::PhotoWithoutLearner,
                format!("{entry:?}: no row of the file has this ID number"),
            ));
            continue;
        };
        if !good.contains(&id) {
            continue;
        }
        let bytes = match read_entry(&mut zip, index, limits, &mut total)? {
            Ok(b) => b,
            Err(why) => {
                out.rejected
                    .push(reject(row, RowCode::BadPhoto, format!("{entry:?}: {why}")));
                continue;
            }
        };
        let Some(content_type) = sniff(&bytes) else {
            out.rejected.push(reject(
                row,
                RowCode::BadPhoto,
                format!("{entry:?} is neither a JPEG nor a PNG image"),
            ));
            continue;
        };
        let photo = Photo {
            index,
            entry: entry.clone(),
            sha256: hex::encode(Sha256::digest(&bytes)),
            content_type,
        };
        let held = out.photos.entry(id).or_default();
        let slot = match kind {
            Kind::Face => &mut held.face,
            Kind::IdCard => &mut held.idcard,
        };
        match slot {
            Some(first) => {
                let message = format!(
                    "{entry:?}: a second {} photo of this learner (the first is {:?})",
                    if kind == Kind::Face {
                        "face"
                    } else {
                        "ID-card"
                    },
                    first.entry
                );
                out.rejected.push(reject(row, RowCode::BadPhoto, message));
            }
            None => *slot = Some(photo),
        }
    }
    Ok(out)
}

/// Stores the photos of the learners `keep` says are imported into `blobs`
/// (reading the ZIP again, each entry checked against its hash). Returns how
/// many.
pub fn store_photos(
    path: &Path,
    photos: &HashMap<String, LearnerPhotos>,
    keep: &dyn Fn(&str) -> bool,
    blobs: &dyn BlobStore,
    limits: &Limits,
) -> Result<u64, PhotoError> {
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(std::fs::File::open(path)?))?;
    let mut total = 0u64;
    let mut stored = 0u64;
    for (id, held) in photos {
        if !keep(id) {
            continue;
        }
        for p in [&held.face, &held.idcard].into_iter().flatten() {
            let bytes = read_entry(&mut zip, p.index, limits, &mut total)?
                .map_err(|_| PhotoError::Changed(p.entry.clone()))?;
            if hex::encode(Sha256::digest(&bytes)) != p.sha256 {
                return Err(PhotoError::Changed(p.entry.clone()));
            }
            blobs.put(&p.sha256, &bytes)?;
            stored += 1;
        }
    }
    Ok(stored)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code
    use super::*;
    use std::io::Write;

    fn zip_of(entries: &[(&str, &[u8])]) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        let mut w = zip::ZipWriter::new(f.reopen().unwrap());
        for (name, bytes) in entries {
            w.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            w.write_all(bytes).unwrap();
        }
        w.finish().unwrap();
        f
    }

    const JPEG: &[u8] = b"\xff\xd8\xff\xe0 a jpeg";
    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n a png";
    const ID: &str = "11010519491231002X";
    const ID2: &str = "320106199003071234";

    #[test]
    fn names_kinds_and_refusals() {
        let big = [JPEG, &vec![0u8; 100][..]].concat();
        let z = zip_of(&[
            ("photos/11010519491231002x.JPG", JPEG),
            ("../../11010519491231002X-idcard.png", PNG),
            ("11010519491231002X-face.jpg", JPEG),
            ("320106199003071234.jpg", b"GIF89a"),
            ("320106199003071234-idcard.jpg", &big),
            ("readme.txt", b"hello"),
            ("110101199001011237.jpg", JPEG),
            ("__MACOSX/._x.jpg", b"junk"),
        ]);
        let id_rows = HashMap::from([(ID.to_owned(), 2), (ID2.to_owned(), 3)]);
        let good = HashSet::from([ID.to_owned(), ID2.to_owned()]);
        let limits = Limits {
            max_photo_bytes: 64,
            ..Limits::default()
        };
        let c = check_zip(z.path(), &id_rows, &good, &limits).unwrap();
        let got: Vec<(u64, &str, &str)> = c
            .rejected
            .iter()
            .map(|r| (r.row, r.code.as_str(), r.entry.as_deref().unwrap()))
            .collect();
        assert_eq!(
            got,
            vec![
                (2, "bad_photo", "11010519491231002X-face.jpg"),
                (3, "bad_photo", "320106199003071234.jpg"),
                (3, "bad_photo", "320106199003071234-idcard.jpg"),
                (0, "bad_photo", "readme.txt"),
                (0, "photo_without_learner", "110101199001011237.jpg"),
            ]
        );
        let p = &c.photos[ID];
        assert_eq!(p.face.as_ref().unwrap().content_type, "image/jpeg");
        assert_eq!(p.idcard.as_ref().unwrap().content_type, "image/png");
        let dir = tempfile::tempdir().unwrap();
        let blobs = crate::blob::DiskBlobStore::new(dir.path()).unwrap();
        let n = store_photos(z.path(), &c.photos, &|_| true, &blobs, &limits).unwrap();
        assert_eq!(n, 2);
        assert_eq!(
            blobs
                .get(&p.face.as_ref().unwrap().sha256)
                .unwrap()
                .unwrap(),
            JPEG
        );
    }

    #[test]
    fn zip_bombs_are_bounded() {
        let z = zip_of(&[("a.jpg", JPEG), ("b.jpg", JPEG), ("c.jpg", JPEG)]);
        let none = HashMap::new();
        let limits = Limits {
            max_entries: 2,
            ..Limits::default()
        };
        assert!(matches!(
            check_zip(z.path(), &none, &HashSet::new(), &limits),
            Err(PhotoError::TooManyEntries(3, 2))
        ));
        // A photo that unpacks far beyond its limit is cut at the limit + 1.
        let huge = [JPEG, &vec![0u8; 1 << 20][..]].concat();
        let z = zip_of(&[
            (&format!("{ID}.jpg"), &huge),
            (&format!("{ID2}.jpg"), &huge),
        ]);
        let id_rows = HashMap::from([(ID.to_owned(), 2), (ID2.to_owned(), 3)]);
        let good = HashSet::from([ID.to_owned(), ID2.to_owned()]);
        let limits = Limits {
            max_total_bytes: 1 << 20,
            ..Limits::default()
        };
        assert!(matches!(
            check_zip(z.path(), &id_rows, &good, &limits),
            Err(PhotoError::TooLarge(_))
        ));
        let limits = Limits {
            max_photo_bytes: 1000,
            ..Limits::default()
        };
        let c = check_zip(z.path(), &id_rows, &good, &limits).unwrap();
        assert_eq!(c.rejected.len(), 2);
        assert!(c.rejected.iter().all(|r| r.code == RowCode::BadPhoto));
    }
}
