//! `keshi course demo --render-media`: real lesson videos for the demo course.
//!
//! Every lesson of the manifest is rendered with ffmpeg into `<manifest dir>/<media
//! path>` as an H.264 (libx264, yuv420p, 640x360, 15 fps, CRF 30) + AAC MP4 with the
//! moov atom in front (`+faststart`, so a web view can start playing before the file is
//! read to the end), exactly as long as the manifest says (R-ST-5: the durations add
//! up to whole class hours). A frame shows the lesson title in Chinese and English, a
//! running clock `mm:ss / MM:SS`, a square moving to and fro and a progress bar, over a
//! background colour that changes from lesson to lesson; the sound is a quiet sine.
//!
//! Files are rendered to `.<id>.mp4.part` and moved into place only when every lesson
//! succeeded; the caller then writes the files' SHA-256 into the manifest and writes
//! the manifest last, so a failure leaves no manifest that names missing or different
//! media. Nothing here decides what counts as study; it only makes test media.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use player_core::manifest::{Course, Lesson, MediaSource};
use player_core::record::Hash;

/// Fonts with Chinese glyphs, tried in order when `--font` is not given.
const CJK_FONTS: &[&str] = &[
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/System/Library/Fonts/Hiragino Sans GB.ttc",
    "/System/Library/Fonts/STHeiti Medium.ttc",
    "C:\\Windows\\Fonts\\msyh.ttc",
    "C:\\Windows\\Fonts\\simhei.ttf",
];

/// Background colours, one per lesson in turn (dark enough for white text).
const BACKGROUNDS: &[&str] = &["0x1d3557", "0x2a4d3a", "0x4a2c5a", "0x5a3a1e", "0x1e4a5a"];

/// Sine frequencies (Hz), one per lesson in turn.
const TONES: &[u32] = &[220, 262, 294, 330, 392];

/// How to render.
#[derive(Debug, Clone)]
pub struct RenderOptions {
    /// The ffmpeg executable.
    pub ffmpeg: PathBuf,
    /// A font file with CJK glyphs; `None` tries [`CJK_FONTS`].
    pub font: Option<PathBuf>,
    /// ffmpeg processes run at once.
    pub jobs: usize,
}

/// One rendered lesson.
#[derive(Debug)]
pub struct Rendered {
    /// Lesson id.
    pub id: String,
    /// SHA-256 of the file.
    pub sha256: Hash,
    /// File size in bytes.
    pub bytes: u64,
}

/// What a render run did (for the summary line).
#[derive(Debug)]
pub struct Report {
    /// The lessons, in manifest order.
    pub lessons: Vec<Rendered>,
    /// Wall time of the whole run.
    pub elapsed: Duration,
    /// ffmpeg processes run at once.
    pub jobs: usize,
    /// The font used for the text, if any.
    pub font: Option<PathBuf>,
}

/// One lesson to render: where, how long, what it shows.
#[derive(Debug)]
struct Job {
    index: usize,
    id: String,
    title: String,
    seconds: u32,
    /// Final path of the media file.
    out: PathBuf,
    /// Where ffmpeg writes first.
    part: PathBuf,
}

/// The default number of ffmpeg processes: one per core, at most four.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 4)
}

/// Renders the lessons of demo manifest `v`, which is to be written to `manifest`,
/// writes the files' SHA-256 into `v` and prints a summary line to stderr. The caller
/// writes the manifest afterwards.
pub fn render_into(v: &mut serde_json::Value, manifest: &Path, opts: &RenderOptions) -> Result<()> {
    let dir = match manifest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let course = Course::parse(manifest, &v.to_string())?;
    let report =
        render(&course, &dir, opts).context("rendering the demo media (no manifest written)")?;
    for r in &report.lessons {
        player_core::demo::set_media_sha256(v, &r.id, &r.sha256);
    }
    let bytes: u64 = report.lessons.iter().map(|r| r.bytes).sum();
    eprintln!(
        "rendered {} lessons ({} s of video, {:.1} MB) in {:.1} s with {} ffmpeg job(s), {}",
        report.lessons.len(),
        course.duration_seconds(),
        bytes as f64 / 1e6,
        report.elapsed.as_secs_f64(),
        report.jobs,
        match &report.font {
            Some(f) => format!("font {}", f.display()),
            None => "no text (no CJK font)".to_owned(),
        }
    );
    Ok(())
}

/// Renders every lesson of `course` (whose manifest lives in `manifest_dir`) and
/// returns the files' hashes. On any failure no media file is replaced and the error
/// names the lesson and ends with ffmpeg's last lines of stderr.
pub fn render(course: &Course, manifest_dir: &Path, opts: &RenderOptions) -> Result<Report> {
    let started = Instant::now();
    let font = pick_font(opts.font.as_deref())?;
    let jobs: Vec<Job> = course
        .lessons
        .iter()
        .enumerate()
        .map(|(index, lesson)| job(index, lesson, manifest_dir))
        .collect::<Result<_>>()?;
    for j in &jobs {
        if let Some(dir) = j.out.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
    }

    let workers = opts.jobs.clamp(1, jobs.len().max(1));
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let results: Vec<Mutex<Option<Result<Rendered>>>> =
        jobs.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                if failed.load(Ordering::SeqCst) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(j) = jobs.get(i) else { break };
                let r = render_one(j, font.as_deref(), opts);
                if r.is_err() {
                    failed.store(true, Ordering::SeqCst);
                }
                *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
            });
        }
    });

    let mut rendered = Vec::with_capacity(jobs.len());
    let mut first_error = None;
    for cell in results {
        match cell.into_inner().unwrap_or_else(|e| e.into_inner()) {
            Some(Ok(r)) => rendered.push(r),
            Some(Err(e)) => {
                first_error.get_or_insert(e);
            }
            None => {}
        }
    }
    if let Some(e) = first_error {
        for j in &jobs {
            let _ = std::fs::remove_file(&j.part);
        }
        return Err(e);
    }
    for j in &jobs {
        std::fs::rename(&j.part, &j.out)
            .with_context(|| format!("cannot move {} into place", j.out.display()))?;
    }
    Ok(Report {
        lessons: rendered,
        elapsed: started.elapsed(),
        jobs: workers,
        font,
    })
}

fn job(index: usize, lesson: &Lesson, manifest_dir: &Path) -> Result<Job> {
    let MediaSource::Path(rel) = &lesson.media.source else {
        bail!("lesson {}: media is a URL, not a file to render", lesson.id);
    };
    let out = manifest_dir.join(rel);
    let name = out
        .file_name()
        .with_context(|| format!("lesson {}: media path {rel} names no file", lesson.id))?
        .to_string_lossy()
        .into_owned();
    let part = out.with_file_name(format!(".{name}.part"));
    Ok(Job {
        index,
        id: lesson.id.clone(),
        title: lesson.title.clone(),
        seconds: lesson.media.duration_seconds,
        out,
        part,
    })
}

/// The font to draw text with: `--font` if given (it must exist), else the first
/// CJK font found; `None` (with a warning) renders without text.
fn pick_font(font: Option<&Path>) -> Result<Option<PathBuf>> {
    if let Some(f) = font {
        if !f.is_file() {
            bail!("--font {}: no such file", f.display());
        }
        return Ok(Some(f.to_path_buf()));
    }
    if let Some(f) = CJK_FONTS.iter().map(Path::new).find(|p| p.is_file()) {
        return Ok(Some(f.to_path_buf()));
    }
    eprintln!(
        "keshi: warning: no font with Chinese glyphs found (tried {}); rendering the \
         lessons without text (install fonts-wqy-microhei or pass --font FILE)",
        CJK_FONTS.join(", ")
    );
    Ok(None)
}

/// Renders one lesson to its `.part` file and hashes it.
fn render_one(j: &Job, font: Option<&Path>, opts: &RenderOptions) -> Result<Rendered> {
    let scratch = Scratch::new(j)?;
    let graph = filter_graph(j, font, &scratch);
    let secs = j.seconds.to_string();
    let bg = BACKGROUNDS[j.index % BACKGROUNDS.len()];
    let tone = TONES[j.index % TONES.len()];
    let mut cmd = Command::new(&opts.ffmpeg);
    cmd.args(["-nostdin", "-y", "-loglevel", "error"])
        .args(["-f", "lavfi", "-i"])
        .arg(format!("color=c={bg}:s=640x360:r=15:d={secs}"))
        .args(["-f", "lavfi", "-i", "color=c=0xf4a261:s=40x40:r=15"])
        .args(["-f", "lavfi", "-i", "color=c=0xe9c46a:s=640x8:r=15"])
        .args(["-f", "lavfi", "-i"])
        .arg(format!("sine=f={tone}:r=48000:d={secs}"))
        .args(["-filter_complex", &graph])
        .args(["-map", "[v]", "-map", "[a]"])
        .args(["-c:v", "libx264", "-preset", "veryfast", "-crf", "30"])
        .args(["-pix_fmt", "yuv420p", "-g", "30", "-threads", "1"])
        .args(["-c:a", "aac", "-b:a", "48k", "-ac", "1"])
        .args(["-movflags", "+faststart", "-t", &secs, "-f", "mp4"])
        .arg(&j.part)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let out = match cmd.output() {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "lesson {}: cannot run ffmpeg ({}): not found; install ffmpeg (Debian/Ubuntu: \
             apt-get install ffmpeg) or pass --ffmpeg PATH",
            j.id,
            opts.ffmpeg.display()
        ),
        Err(e) => {
            return Err(e).with_context(|| {
                format!(
                    "lesson {}: cannot run ffmpeg ({})",
                    j.id,
                    opts.ffmpeg.display()
                )
            })
        }
    };
    if !out.status.success() {
        let _ = std::fs::remove_file(&j.part);
        bail!(
            "lesson {}: ffmpeg ({}) failed rendering {} ({}); its stderr ends:\n{}",
            j.id,
            opts.ffmpeg.display(),
            j.out.display(),
            out.status,
            tail(&String::from_utf8_lossy(&out.stderr))
        );
    }
    let bytes = std::fs::read(&j.part)
        .with_context(|| format!("lesson {}: cannot read {}", j.id, j.part.display()))?;
    if bytes.is_empty() {
        bail!(
            "lesson {}: ffmpeg ({}) reported success but wrote nothing to {}",
            j.id,
            opts.ffmpeg.display(),
            j.part.display()
        );
    }
    Ok(Rendered {
        id: j.id.clone(),
        sha256: Hash::of(&bytes),
        bytes: bytes.len() as u64,
    })
}

/// The last lines of ffmpeg's stderr (at most 15 lines, 2000 bytes).
fn tail(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.trim_end().lines().collect();
    let mut t = lines[lines.len().saturating_sub(15)..].join("\n");
    if t.len() > 2000 {
        let mut cut = t.len() - 2000;
        while !t.is_char_boundary(cut) {
            cut += 1;
        }
        t = format!("…{}", &t[cut..]);
    }
    if t.is_empty() {
        "(nothing)".to_owned()
    } else {
        t
    }
}

/// Text files drawtext reads (the title and the clock), beside the `.part` file and
/// removed on drop. Files spare the text from filter-graph escaping.
#[derive(Debug)]
struct Scratch {
    title_zh: PathBuf,
    title_en: Option<PathBuf>,
    clock: PathBuf,
}

impl Scratch {
    fn new(j: &Job) -> Result<Scratch> {
        let base = j.part.with_extension("");
        let file = |suffix: &str, text: &str| -> Result<PathBuf> {
            let mut p = base.clone().into_os_string();
            p.push(suffix);
            let p = PathBuf::from(p);
            std::fs::write(&p, text).with_context(|| format!("cannot write {}", p.display()))?;
            Ok(p)
        };
        let (zh, en) = match j.title.split_once(" / ") {
            Some((zh, en)) => (zh, Some(en)),
            None => (j.title.as_str(), None),
        };
        let total = format!("{:02}:{:02}", j.seconds / 60, j.seconds % 60);
        Ok(Scratch {
            title_zh: file(".title.txt", zh)?,
            title_en: en.map(|en| file(".title-en.txt", en)).transpose()?,
            // drawtext expands %{…}: minutes and seconds of the frame's time.
            clock: file(
                ".clock.txt",
                &format!("%{{eif:floor(t/60):d:2}}:%{{eif:mod(floor(t),60):d:2}} / {total}"),
            )?,
        })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.title_zh);
        if let Some(p) = &self.title_en {
            let _ = std::fs::remove_file(p);
        }
        let _ = std::fs::remove_file(&self.clock);
    }
}

/// Inputs: 0 background, 1 the moving square, 2 the progress bar, 3 the sine.
fn filter_graph(j: &Job, font: Option<&Path>, scratch: &Scratch) -> String {
    let d = j.seconds;
    // The square crosses the frame and back every 12 s; the bar fills over the lesson.
    let mut v = format!(
        "[0:v][1:v]overlay=x=40+(W-w-80)*abs(mod(t/6\\,2)-1):y=250:shortest=1[m];\
         [m][2:v]overlay=x=-w+w*t/{d}:y=H-h:shortest=1"
    );
    if let Some(font) = font {
        let font = escape(&font.to_string_lossy());
        let text = |file: &Path, expand: bool, size: u32, colour: &str, y: u32| {
            format!(
                ",drawtext=fontfile={font}:textfile={}:expansion={}:fontsize={size}:\
                 fontcolor={colour}:x=(w-text_w)/2:y={y}",
                escape(&file.to_string_lossy()),
                if expand { "normal" } else { "none" }
            )
        };
        v += &text(&scratch.title_zh, false, 30, "white", 40);
        if let Some(en) = &scratch.title_en {
            v += &text(en, false, 18, "0xdddddd", 84);
        }
        v += &text(&scratch.clock, true, 64, "white", 140);
        v += &format!(
            ",drawtext=fontfile={font}:text={}:expansion=none:fontsize=14:\
             fontcolor=0xbbbbbb:x=12:y=h-30",
            escape(&format!("{} · Keshi 演示课程 (demo)", j.id))
        );
    }
    format!("{v}[v];[3:a]volume=0.05[a]")
}

/// Escapes a filter option value for a filter-graph description: first for the option
/// parser (`\ ' :`), then for the graph parser (`\ ' [ ] , ;`).
fn escape(s: &str) -> String {
    let mut opt = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '\'' | ':') {
            opt.push('\\');
        }
        opt.push(c);
    }
    let mut graph = String::with_capacity(opt.len());
    for c in opt.chars() {
        if matches!(c, '\\' | '\'' | '[' | ']' | ',' | ';') {
            graph.push('\\');
        }
        graph.push(c);
    }
    graph
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_both_levels() {
        assert_eq!(escape("/usr/share/a.ttc"), "/usr/share/a.ttc");
        assert_eq!(
            escape("C:\\Fonts\\m.ttc"),
            "C\\\\:\\\\\\\\Fonts\\\\\\\\m.ttc"
        );
        assert_eq!(escape("it's [a], b;"), "it\\\\\\'s \\[a\\]\\, b\\;");
    }

    #[test]
    fn tail_keeps_the_end() {
        let s: String = (0..40).map(|i| format!("line {i}\n")).collect();
        let t = tail(&s);
        assert!(t.starts_with("line 25\n") && t.ends_with("line 39"), "{t}");
        assert_eq!(tail(""), "(nothing)");
        assert!(tail(&"错".repeat(2000)).starts_with('…'));
    }
}
