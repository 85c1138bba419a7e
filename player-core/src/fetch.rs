//! Courses from the platform (issue 12, feature `http`): list the learner's
//! enrolled courses and download one into a course directory the
//! [`crate::courses::CourseStore`] loads — shared by `keshi course fetch` and the
//! app.
//!
//! - **Nothing unchecked is playable.** The manifest must hash to the SHA-256 the
//!   course list gave; every media file downloads into `NAME.part` and becomes
//!   `NAME` only when its bytes hash to the manifest's SHA-256; `course.json` is
//!   written last, so the course store sees a course only once every file of it is
//!   checked. A mismatch deletes the part and says which lesson.
//! - **Resumable.** A cut download (network, platform restart, the app closed)
//!   keeps its `.part`; the next attempt asks for the rest with an HTTP range. A
//!   file already complete and matching is not downloaded again.
//! - **Safe paths.** Media paths come from the platform (not trusted): only plain
//!   relative paths inside the course directory are written.

use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use keshi_protocol::manifest::{Course, MediaSource};
use keshi_protocol::wire::{ApiError, CoursesResponse, EnrolledCourse};
use sha2::Digest;

use crate::http::HttpTransport;
use crate::sync::TransportError;

/// Why a course could not be listed or downloaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The platform said no (not signed in, not enrolled…).
    #[error("the platform refused: {} ({})", .0.message, .0.code)]
    Refused(ApiError),
    /// The platform could not be reached, or the download was cut (what was
    /// received is kept; try again to resume).
    #[error(
        "the platform could not be reached: {0} (what was downloaded is kept; retry to resume)"
    )]
    Unreachable(String),
    /// The manifest is not the one the course list announced, or not valid.
    #[error("course {course}: the manifest cannot be trusted: {reason}")]
    BadManifest {
        /// Course id.
        course: String,
        /// Why.
        reason: String,
    },
    /// A media file's bytes do not match the manifest's SHA-256: it was deleted and
    /// will never be played.
    #[error("course {course}, lesson {lesson}: the downloaded bytes do not match the manifest's SHA-256 ({got} instead of {want}); the file was deleted and will not be played")]
    MediaMismatch {
        /// Course id.
        course: String,
        /// Lesson id.
        lesson: String,
        /// SHA-256 the manifest gives.
        want: String,
        /// SHA-256 of what arrived.
        got: String,
    },
    /// The learner is not enrolled in the course.
    #[error("course {0:?} is not among the learner's courses")]
    NotEnrolled(String),
    /// Writing the course failed (disk full, no permission).
    #[error("writing {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

impl From<TransportError> for FetchError {
    fn from(e: TransportError) -> FetchError {
        match e {
            TransportError::Refused { error, .. } => FetchError::Refused(error),
            TransportError::Retryable(m) => FetchError::Unreachable(m),
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> FetchError + '_ {
    move |source| FetchError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// How far a download is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Progress {
    /// Course id.
    pub course: String,
    /// Media files complete.
    pub files_done: u32,
    /// Media files in all.
    pub files: u32,
    /// Bytes held (complete files and parts).
    pub bytes_done: u64,
    /// Bytes in all.
    pub bytes: u64,
}

/// The learner's enrolled courses (`GET /v1/courses`).
pub fn list(http: &HttpTransport, token: &str) -> Result<Vec<EnrolledCourse>, FetchError> {
    let r: CoursesResponse = http.get("/v1/courses", Some(token))?;
    Ok(r.courses)
}

/// A media path from a manifest as a path inside the course directory, or `None`
/// when it could leave it (absolute, `..`, a drive prefix).
fn inside(rel: &str) -> Option<PathBuf> {
    let p = Path::new(rel);
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(s) => out.push(s),
            Component::CurDir => {}
            _ => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

/// SHA-256 (hex) of a file's bytes.
fn hash_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(hex::encode(h.finalize()));
        }
        h.update(&buf[..n]);
    }
}

/// Downloads times to try one file when the connection drops (each resumes).
const ATTEMPTS: u32 = 5;

/// Downloads course `id` into `out` (its course directory): the manifest (checked
/// against the course list), then every media file (resumed, checked), then
/// `course.json`. `progress` is called as bytes arrive; `sleep` waits between
/// attempts at a cut file. Answers the manifest's path.
pub fn fetch(
    http: &HttpTransport,
    token: &str,
    id: &str,
    out: &Path,
    progress: &mut dyn FnMut(&Progress),
    sleep: &mut dyn FnMut(Duration),
) -> Result<PathBuf, FetchError> {
    let listed = list(http, token)?
        .into_iter()
        .find(|c| c.id == id)
        .ok_or_else(|| FetchError::NotEnrolled(id.to_owned()))?;
    let bad = |reason: String| FetchError::BadManifest {
        course: id.to_owned(),
        reason,
    };
    let manifest = http.get_bytes(&format!("/v1/courses/{id}/manifest"), Some(token))?;
    let got = keshi_protocol::ids::Hash::of(&manifest).to_hex();
    if got != listed.manifest_sha256 {
        return Err(bad(format!(
            "it hashes to {got}, the course list says {}",
            listed.manifest_sha256
        )));
    }
    let text = String::from_utf8(manifest).map_err(|e| bad(e.to_string()))?;
    let course = Course::parse(&out.join("course.json"), &text).map_err(|e| bad(e.to_string()))?;
    if course.id != id {
        return Err(bad(format!("it describes course {:?}", course.id)));
    }
    std::fs::create_dir_all(out).map_err(io(out))?;
    // A course.json of another version must not be played with new media.
    let manifest_path = out.join("course.json");
    if std::fs::read_to_string(&manifest_path).is_ok_and(|held| held != text) {
        std::fs::remove_file(&manifest_path).map_err(io(&manifest_path))?;
    }
    let mut files = Vec::new();
    for l in &course.lessons {
        if let MediaSource::Path(rel) = &l.media.source {
            let rel = inside(rel).ok_or_else(|| {
                bad(format!(
                    "lesson {}: media path {rel:?} leaves the course directory",
                    l.id
                ))
            })?;
            files.push((l.id.clone(), rel, l.media.sha256.clone()));
        }
    }
    let mut p = Progress {
        course: id.to_owned(),
        files_done: 0,
        files: u32::try_from(files.len()).unwrap_or(u32::MAX),
        bytes_done: 0,
        bytes: listed.media_bytes,
    };
    let mut finished = 0u64;
    for (lesson, rel, sha) in &files {
        let path = out.join(rel);
        if path.is_file() && hash_file(&path).is_ok_and(|h| &h == sha) {
            finished += std::fs::metadata(&path).map_or(0, |m| m.len());
        } else {
            let mut tries = 0;
            loop {
                tries += 1;
                let before = std::fs::metadata(part_path(&path)).map_or(0, |m| m.len());
                match download(http, token, id, sha, &path, &mut |held| {
                    p.bytes_done = finished + held;
                    progress(&p);
                }) {
                    Ok(()) => break,
                    Err(FetchError::Unreachable(m)) if tries < ATTEMPTS => {
                        // Attempts count only while nothing arrives.
                        if std::fs::metadata(part_path(&path)).map_or(0, |m| m.len()) > before {
                            tries = 0;
                        }
                        tracing::warn!(course = id, lesson, error = %m, tries, "download cut; resuming");
                        sleep(Duration::from_millis(250 << tries));
                    }
                    Err(e) => return Err(e),
                }
            }
            let part = part_path(&path);
            let got = hash_file(&part).map_err(io(&part))?;
            if &got != sha {
                let _ = std::fs::remove_file(&part);
                return Err(FetchError::MediaMismatch {
                    course: id.to_owned(),
                    lesson: lesson.clone(),
                    want: sha.clone(),
                    got,
                });
            }
            std::fs::rename(&part, &path).map_err(io(&path))?;
            finished += std::fs::metadata(&path).map_or(0, |m| m.len());
        }
        p.files_done += 1;
        p.bytes_done = finished;
        progress(&p);
    }
    let tmp = out.join("course.json.part");
    std::fs::write(&tmp, &text).map_err(io(&tmp))?;
    std::fs::rename(&tmp, &manifest_path).map_err(io(&manifest_path))?;
    tracing::info!(
        course = id,
        version = listed.version,
        files = files.len(),
        "course downloaded and checked"
    );
    Ok(manifest_path)
}

fn part_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".part");
    PathBuf::from(s)
}

/// Downloads one media file into its `.part`, from what the part holds on.
fn download(
    http: &HttpTransport,
    token: &str,
    course: &str,
    sha: &str,
    path: &Path,
    progress: &mut dyn FnMut(u64),
) -> Result<(), FetchError> {
    let part = part_path(path);
    if let Some(parent) = part.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    let held = std::fs::metadata(&part).map_or(0, |m| m.len());
    let mut resp = http.get_range(&format!("/v1/courses/{course}/media/{sha}"), token, held)?;
    let mut f = match resp.status().as_u16() {
        206 => std::fs::OpenOptions::new()
            .append(true)
            .open(&part)
            .map_err(io(&part))?,
        // The whole file (no range support, or nothing held).
        200 => std::fs::File::create(&part).map_err(io(&part))?,
        416 => {
            // The part is as long as the file or longer: start again.
            std::fs::remove_file(&part).map_err(io(&part))?;
            return Err(FetchError::Unreachable(
                "the partial file was longer than the media; starting again".into(),
            ));
        }
        s => {
            return Err(FetchError::Unreachable(format!(
                "the platform answered HTTP {s} to a media download"
            )))
        }
    };
    let mut have = f.metadata().map_or(held, |m| m.len());
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = match resp.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                f.sync_data().map_err(io(&part))?;
                return Err(FetchError::Unreachable(format!(
                    "the download was cut: {e}"
                )));
            }
        };
        f.write_all(&buf[..n]).map_err(io(&part))?;
        have += n as u64;
        progress(have);
    }
    f.sync_data().map_err(io(&part))?;
    if let Some(len) = resp.content_length() {
        // A body shorter than announced: the connection closed early.
        let expected = if resp.status().as_u16() == 206 {
            held + len
        } else {
            len
        };
        if have < expected {
            return Err(FetchError::Unreachable(format!(
                "the download stopped at {have} of {expected} bytes"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_paths_stay_inside_the_course_directory() {
        assert_eq!(inside("media/a.mp4"), Some(PathBuf::from("media/a.mp4")));
        assert_eq!(inside("./a.mp4"), Some(PathBuf::from("a.mp4")));
        assert_eq!(inside("../a.mp4"), None);
        assert_eq!(inside("media/../../a.mp4"), None);
        assert_eq!(inside("/etc/passwd"), None);
        assert_eq!(inside(""), None);
    }
}
