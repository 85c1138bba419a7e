//! The course-media protocol: `keshi-media://localhost/<course id>/<lesson id>`
//! (`http://keshi-media.localhost/…` where the web view needs it, on Windows and
//! Android). Only lessons listed in a loaded manifest can be named — the URL carries
//! ids, never a path — and the file must lie inside its course directory. HTTP range
//! requests are answered (206) so players can stream and seek backwards.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

use tauri::http::{header, Response, StatusCode};

use player_core::courses::CourseStore;
use player_core::study::AppCode;

/// Scheme name.
pub const SCHEME: &str = player_core::study::MEDIA_SCHEME;
/// Largest answer to an open-ended range request.
const MAX_CHUNK: u64 = 4 << 20;

fn decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Splits a request path into (course id, lesson id). Anything else — more or fewer
/// segments, empty ids, dot segments, separators hidden in escapes — is refused.
pub fn parse_path(path: &str) -> Option<(String, String)> {
    let mut parts = path.trim_start_matches('/').split('/');
    let (c, l) = (parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let (c, l) = (decode(c)?, decode(l)?);
    let ok = |s: &str| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && !s.contains(['/', '\\', '\0'])
            && !s.contains("..")
    };
    (ok(&c) && ok(&l)).then_some((c, l))
}

/// A response that could not be built (an invalid header value: a bug): a bare 500.
fn failed(e: &tauri::http::Error) -> Response<Vec<u8>> {
    tracing::error!(error = %e, "media response");
    let mut r = Response::new(Vec::new());
    *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    r
}

fn text(status: StatusCode, msg: &str) -> Response<Vec<u8>> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(msg.as_bytes().to_vec())
        .unwrap_or_else(|e| failed(&e))
}

/// Parses `bytes=a-b` / `bytes=a-` / `bytes=-n` against `len` into an inclusive range.
pub fn parse_range(value: &str, len: u64) -> Option<(u64, u64)> {
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') || len == 0 {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    let (start, end) = if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        (len.saturating_sub(n), len - 1)
    } else {
        let start: u64 = a.parse().ok()?;
        let end = if b.is_empty() {
            start.saturating_add(MAX_CHUNK - 1).min(len - 1)
        } else {
            b.parse::<u64>().ok()?.min(len - 1)
        };
        (start, end)
    };
    // One answer holds at most MAX_CHUNK bytes, whatever was asked: the player asks
    // again for the rest (a 206 may be shorter than the range asked).
    let end = end.min(start.saturating_add(MAX_CHUNK - 1));
    (start <= end && start < len).then_some((start, end))
}

/// Answers one request from the store.
pub fn respond(store: &CourseStore, path: &str, range: Option<&str>) -> Response<Vec<u8>> {
    let Some((course, lesson)) = parse_path(path) else {
        return text(StatusCode::BAD_REQUEST, "bad media path");
    };
    let file: PathBuf = match store.media_file(&course, &lesson) {
        Ok(f) => f,
        Err(e) if e.code == AppCode::MediaOutsideStore.into() => {
            tracing::warn!(%course, %lesson, "media path leaves the course directory: refused");
            return text(StatusCode::FORBIDDEN, "refused");
        }
        Err(_) => return text(StatusCode::NOT_FOUND, "no such lesson"),
    };
    match serve_file(&file, range) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(file = %file.display(), error = %e, "media read failed");
            text(StatusCode::INTERNAL_SERVER_ERROR, "media unreadable")
        }
    }
}

fn serve_file(file: &std::path::Path, range: Option<&str>) -> std::io::Result<Response<Vec<u8>>> {
    let mut f = std::fs::File::open(file)?;
    let len = f.metadata()?.len();
    let builder = Response::builder()
        .header(header::CONTENT_TYPE, "video/mp4")
        // The page (tauri://localhost) fetches across schemes; only the app's own
        // web view can reach this protocol at all.
        .header(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::CACHE_CONTROL, "no-store");
    // A request without a range for a file larger than one chunk is answered as
    // `bytes=0-` (the first chunk, 206): the media element asks for the rest, and no
    // lesson file is ever read whole into memory.
    let range = match range {
        None if len > MAX_CHUNK => Some("bytes=0-"),
        r => r,
    };
    if let Some(r) = range {
        let Some((start, end)) = parse_range(r, len) else {
            return Ok(Response::builder()
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .header(header::CONTENT_RANGE, format!("bytes */{len}"))
                .body(Vec::new())
                .unwrap_or_else(|e| failed(&e)));
        };
        let n = end - start + 1;
        let mut buf = vec![0; n as usize];
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(&mut buf)?;
        return Ok(builder
            .status(StatusCode::PARTIAL_CONTENT)
            .header(header::CONTENT_RANGE, format!("bytes {start}-{end}/{len}"))
            .header(header::CONTENT_LENGTH, n.to_string())
            .body(buf)
            .unwrap_or_else(|e| failed(&e)));
    }
    // At most MAX_CHUNK bytes here (larger files were answered by range above).
    let mut buf = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    f.take(MAX_CHUNK).read_to_end(&mut buf)?;
    Ok(builder
        .status(StatusCode::OK)
        .header(header::CONTENT_LENGTH, buf.len().to_string())
        .body(buf)
        .unwrap_or_else(|e| failed(&e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_ids_only() {
        assert_eq!(
            parse_path("/demo-1/h01-a"),
            Some(("demo-1".into(), "h01-a".into()))
        );
        for bad in [
            "/../etc/passwd",
            "/demo/../../x",
            "/demo/%2E%2E",
            "/demo/a%2Fb",
            "/demo/a%5Cb",
            "/demo",
            "/demo/a/b",
            "//a",
            "/demo/%zz",
            "/demo/..%2Fsecret",
        ] {
            assert_eq!(parse_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn urls_round_trip() {
        let u = player_core::study::lesson_url("课程 1", "h01-a");
        let path = u.split_once("localhost").unwrap().1;
        assert_eq!(parse_path(path), Some(("课程 1".into(), "h01-a".into())));
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-1", 10), Some((0, 1)));
        assert_eq!(parse_range("bytes=5-", 10), Some((5, 9)));
        assert_eq!(parse_range("bytes=-3", 10), Some((7, 9)));
        assert_eq!(parse_range("bytes=9-100", 10), Some((9, 9)));
        assert_eq!(parse_range("bytes=10-", 10), None);
        assert_eq!(parse_range("bytes=3-2", 10), None);
        assert_eq!(parse_range("bytes=0-1,3-4", 10), None);
        assert_eq!(parse_range("items=0-1", 10), None);
        assert_eq!(parse_range("bytes=0-", 8 << 20), Some((0, MAX_CHUNK - 1)));
        assert_eq!(
            parse_range(&format!("bytes=0-{}", 8 << 20), 8 << 20),
            Some((0, MAX_CHUNK - 1))
        );
        // A start near u64::MAX is past the end, not an overflow.
        assert_eq!(parse_range("bytes=18446744073709551615-", 10), None);
        assert_eq!(
            parse_range("bytes=18446744073709551615-18446744073709551615", 10),
            None
        );
        assert_eq!(parse_range("bytes=-18446744073709551615", 10), Some((0, 9)));
    }

    #[test]
    fn no_answer_holds_more_than_one_chunk() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.mp4");
        let len = MAX_CHUNK + 10;
        std::fs::write(&big, vec![7u8; usize::try_from(len).unwrap()]).unwrap();
        for range in [None, Some("bytes=0-"), Some("bytes=0-99999999999")] {
            let r = serve_file(&big, range).unwrap();
            assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT, "{range:?}");
            assert_eq!(r.body().len() as u64, MAX_CHUNK, "{range:?}");
            assert_eq!(
                r.headers()[header::CONTENT_RANGE],
                format!("bytes 0-{}/{len}", MAX_CHUNK - 1)
            );
        }
        let small = dir.path().join("small.mp4");
        std::fs::write(&small, b"0123456789").unwrap();
        let r = serve_file(&small, None).unwrap();
        assert_eq!((r.status(), r.body().len()), (StatusCode::OK, 10));
    }
}
