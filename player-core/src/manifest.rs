//! Course manifests (versioned JSON schema `keshi-course/1`).
//!
//! A manifest names the course (id, title, occupation, level — R-AS-3), its lessons in
//! order with their media (path or URL, duration, SHA-256) and a quiz bank for every
//! class hour (R-AS-1). Loading validates everything; every error names the file, the
//! field (as a JSON path such as `lessons[2].media.sha256`) and the reason.
//!
//! Positions in the course are seconds on one course timeline: the lessons laid end to
//! end in manifest order.
//!
//! ```json
//! { "schema": "keshi-course/1", "id": "elec-101", "title": "低压电工作业",
//!   "occupation": "电工", "level": "junior",
//!   "lessons": [ { "id": "l1", "title": "安全用电",
//!                  "media": { "path": "media/l1.mp4", "duration_seconds": 1350,
//!                             "sha256": "<64 hex>" } } ],
//!   "quizzes": [ { "class_hour": 1, "questions": [
//!       { "id": "q1", "text": "…", "options": ["…", "…"], "answer": 0 } ] } ] }
//! ```

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::policy::{Level, Policy};

/// The schema tag every manifest carries.
pub const SCHEMA: &str = "keshi-course/1";

/// Why a manifest was refused: which file, which field, and why.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    Io {
        /// The manifest file.
        file: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not JSON.
    #[error("{file}: not valid JSON at line {line}, column {column}: {message}")]
    Syntax {
        /// The manifest file.
        file: PathBuf,
        /// Line of the error.
        line: usize,
        /// Column of the error.
        column: usize,
        /// Parser message.
        message: String,
    },
    /// A field is missing or wrong.
    #[error("{file}: field `{field}`: {reason}")]
    Field {
        /// The manifest file.
        file: PathBuf,
        /// JSON path of the field.
        field: String,
        /// What is wrong.
        reason: String,
    },
}

impl ManifestError {
    /// The offending field's JSON path, if the error is about a field.
    pub fn field(&self) -> Option<&str> {
        match self {
            ManifestError::Field { field, .. } => Some(field),
            _ => None,
        }
    }
}

/// Where a lesson's media comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaSource {
    /// A path relative to the manifest's directory (inside the course store).
    Path(String),
    /// An https URL.
    Url(String),
}

/// A lesson's media file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Media {
    /// Path or URL.
    pub source: MediaSource,
    /// Length in seconds.
    pub duration_seconds: u32,
    /// SHA-256 of the file, lower-case hex.
    pub sha256: String,
}

/// One lesson.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lesson {
    /// Lesson id, unique in the course.
    pub id: String,
    /// Title shown to the learner.
    pub title: String,
    /// Its media.
    pub media: Media,
}

/// One quiz question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Question {
    /// Question id, unique in the course.
    pub id: String,
    /// The question.
    pub text: String,
    /// Answer options (2..=8).
    pub options: Vec<String>,
    /// Index of the right option.
    pub answer: usize,
}

/// The question bank of one class hour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuizBank {
    /// 1-based class hour number.
    pub class_hour: u32,
    /// Its questions.
    pub questions: Vec<Question>,
}

/// A validated course manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Course {
    /// Course id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Occupation (职业/工种).
    pub occupation: String,
    /// Level (R-AS-3).
    pub level: Level,
    /// Lessons in order.
    pub lessons: Vec<Lesson>,
    /// Quiz bank per class hour, in file order.
    pub quizzes: Vec<QuizBank>,
    /// The file it was loaded from (for error messages), if any.
    #[serde(skip)]
    pub origin: PathBuf,
}

struct Ctx<'a> {
    file: &'a Path,
}

impl Ctx<'_> {
    fn err(&self, field: impl Into<String>, reason: impl Into<String>) -> ManifestError {
        ManifestError::Field {
            file: self.file.to_path_buf(),
            field: field.into(),
            reason: reason.into(),
        }
    }

    fn obj<'v>(
        &self,
        v: &'v Value,
        field: &str,
    ) -> Result<&'v serde_json::Map<String, Value>, ManifestError> {
        v.as_object()
            .ok_or_else(|| self.err(field, format!("must be an object, found {}", kind(v))))
    }

    fn get<'v>(
        &self,
        o: &'v serde_json::Map<String, Value>,
        parent: &str,
        key: &str,
    ) -> Result<&'v Value, ManifestError> {
        o.get(key)
            .ok_or_else(|| self.err(join(parent, key), "is missing"))
    }

    fn string(
        &self,
        o: &serde_json::Map<String, Value>,
        parent: &str,
        key: &str,
        max: usize,
    ) -> Result<String, ManifestError> {
        let field = join(parent, key);
        let v = self.get(o, parent, key)?;
        let s = v
            .as_str()
            .ok_or_else(|| self.err(&field, format!("must be a string, found {}", kind(v))))?;
        if s.trim().is_empty() {
            return Err(self.err(&field, "must not be empty"));
        }
        if s.chars().count() > max {
            return Err(self.err(&field, format!("is longer than {max} characters")));
        }
        Ok(s.to_owned())
    }

    fn uint(
        &self,
        o: &serde_json::Map<String, Value>,
        parent: &str,
        key: &str,
        lo: u64,
        hi: u64,
    ) -> Result<u64, ManifestError> {
        let field = join(parent, key);
        let v = self.get(o, parent, key)?;
        let n = v.as_u64().ok_or_else(|| {
            self.err(
                &field,
                format!("must be a whole number >= 0, found {}", show(v)),
            )
        })?;
        if !(lo..=hi).contains(&n) {
            return Err(self.err(&field, format!("{n} is outside {lo}..={hi}")));
        }
        Ok(n)
    }

    fn array<'v>(
        &self,
        o: &'v serde_json::Map<String, Value>,
        parent: &str,
        key: &str,
    ) -> Result<&'v Vec<Value>, ManifestError> {
        let field = join(parent, key);
        let v = self.get(o, parent, key)?;
        let a = v
            .as_array()
            .ok_or_else(|| self.err(&field, format!("must be an array, found {}", kind(v))))?;
        if a.is_empty() {
            return Err(self.err(&field, "must not be empty"));
        }
        Ok(a)
    }

    fn only(
        &self,
        o: &serde_json::Map<String, Value>,
        parent: &str,
        allowed: &[&str],
    ) -> Result<(), ManifestError> {
        for k in o.keys() {
            if !allowed.contains(&k.as_str()) {
                return Err(self.err(
                    join(parent, k),
                    format!("unknown field (allowed: {})", allowed.join(", ")),
                ));
            }
        }
        Ok(())
    }
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::Number(n) => n.to_string(),
        other => kind(other).to_owned(),
    }
}

fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

impl Course {
    /// Reads and validates a manifest file.
    pub fn load(path: &Path) -> Result<Course, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Io {
            file: path.to_path_buf(),
            source,
        })?;
        Course::parse(path, &text)
    }

    /// Validates manifest text; `file` names it in errors.
    pub fn parse(file: &Path, text: &str) -> Result<Course, ManifestError> {
        let root: Value = serde_json::from_str(text).map_err(|e| ManifestError::Syntax {
            file: file.to_path_buf(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
        let cx = Ctx { file };
        let o = cx.obj(&root, "(root)")?;
        cx.only(
            o,
            "",
            &[
                "schema",
                "id",
                "title",
                "occupation",
                "level",
                "lessons",
                "quizzes",
            ],
        )?;
        let schema = cx.string(o, "", "schema", 64)?;
        if schema != SCHEMA {
            return Err(cx.err(
                "schema",
                format!("unsupported schema `{schema}` (this build reads `{SCHEMA}`)"),
            ));
        }
        let id = cx.string(o, "", "id", 64)?;
        if !is_id(&id) {
            return Err(cx.err("id", "use letters, digits, `-`, `_` or `.` (at most 64)"));
        }
        let title = cx.string(o, "", "title", 200)?;
        let occupation = cx.string(o, "", "occupation", 100)?;
        let level = match cx.string(o, "", "level", 32)?.as_str() {
            "junior" => Level::Junior,
            "intermediate" => Level::Intermediate,
            "senior" => Level::Senior,
            other => {
                return Err(cx.err(
                    "level",
                    format!("`{other}` is not one of junior, intermediate, senior"),
                ))
            }
        };

        let mut lessons = Vec::new();
        let mut lesson_ids = BTreeSet::new();
        for (i, lv) in cx.array(o, "", "lessons")?.iter().enumerate() {
            let at = format!("lessons[{i}]");
            let lo = cx.obj(lv, &at)?;
            cx.only(lo, &at, &["id", "title", "media"])?;
            let lid = cx.string(lo, &at, "id", 64)?;
            if !is_id(&lid) {
                return Err(cx.err(
                    join(&at, "id"),
                    "use letters, digits, `-`, `_` or `.` (at most 64)",
                ));
            }
            if !lesson_ids.insert(lid.clone()) {
                return Err(cx.err(join(&at, "id"), format!("duplicate lesson id `{lid}`")));
            }
            let ltitle = cx.string(lo, &at, "title", 200)?;
            let mat = join(&at, "media");
            let mo = cx.obj(cx.get(lo, &at, "media")?, &mat)?;
            cx.only(mo, &mat, &["path", "url", "duration_seconds", "sha256"])?;
            let source = match (mo.get("path"), mo.get("url")) {
                (Some(_), Some(_)) => {
                    return Err(cx.err(&mat, "give either `path` or `url`, not both"))
                }
                (None, None) => return Err(cx.err(&mat, "needs `path` or `url`")),
                (Some(_), None) => {
                    let p = cx.string(mo, &mat, "path", 512)?;
                    let pp = Path::new(&p);
                    if pp.is_absolute()
                        || p.contains('\\')
                        || pp
                            .components()
                            .any(|c| !matches!(c, std::path::Component::Normal(_)))
                    {
                        return Err(cx.err(
                            join(&mat, "path"),
                            "must be a relative path inside the course folder (no `..`, no absolute path)",
                        ));
                    }
                    MediaSource::Path(p)
                }
                (None, Some(_)) => {
                    let u = cx.string(mo, &mat, "url", 2048)?;
                    if !(u.starts_with("https://") || u.starts_with("http://")) {
                        return Err(cx.err(join(&mat, "url"), "must be an http(s) URL"));
                    }
                    MediaSource::Url(u)
                }
            };
            // A lesson longer than 24 h is a broken manifest, not a course.
            let duration = cx.uint(mo, &mat, "duration_seconds", 1, 86_400)?;
            let sha = cx.string(mo, &mat, "sha256", 64)?;
            if sha.len() != 64 || !sha.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                return Err(cx.err(
                    join(&mat, "sha256"),
                    "must be 64 lower-case hex digits (SHA-256)",
                ));
            }
            lessons.push(Lesson {
                id: lid,
                title: ltitle,
                media: Media {
                    source,
                    duration_seconds: duration as u32,
                    sha256: sha,
                },
            });
        }

        let mut quizzes: Vec<QuizBank> = Vec::new();
        let mut question_ids = BTreeSet::new();
        for (i, qv) in cx.array(o, "", "quizzes")?.iter().enumerate() {
            let at = format!("quizzes[{i}]");
            let qo = cx.obj(qv, &at)?;
            cx.only(qo, &at, &["class_hour", "questions"])?;
            let hour = cx.uint(qo, &at, "class_hour", 1, 10_000)? as u32;
            if quizzes.iter().any(|b| b.class_hour == hour) {
                return Err(cx.err(
                    join(&at, "class_hour"),
                    format!("class hour {hour} has two quiz banks"),
                ));
            }
            let mut questions = Vec::new();
            for (j, qq) in cx.array(qo, &at, "questions")?.iter().enumerate() {
                let qat = format!("{at}.questions[{j}]");
                let q = cx.obj(qq, &qat)?;
                cx.only(q, &qat, &["id", "text", "options", "answer"])?;
                let qid = cx.string(q, &qat, "id", 64)?;
                if !question_ids.insert(qid.clone()) {
                    return Err(cx.err(join(&qat, "id"), format!("duplicate question id `{qid}`")));
                }
                let text = cx.string(q, &qat, "text", 1000)?;
                let oat = join(&qat, "options");
                let opts = cx.array(q, &qat, "options")?;
                if !(2..=8).contains(&opts.len()) {
                    return Err(cx.err(&oat, format!("has {} options; 2..=8 allowed", opts.len())));
                }
                let mut options = Vec::new();
                for (k, ov) in opts.iter().enumerate() {
                    let s = ov
                        .as_str()
                        .filter(|s| !s.trim().is_empty())
                        .ok_or_else(|| {
                            cx.err(format!("{oat}[{k}]"), "must be a non-empty string")
                        })?;
                    if options.iter().any(|x: &String| x == s) {
                        return Err(cx.err(format!("{oat}[{k}]"), "repeats another option"));
                    }
                    options.push(s.to_owned());
                }
                let answer = cx.uint(q, &qat, "answer", 0, options.len() as u64 - 1)? as usize;
                questions.push(Question {
                    id: qid,
                    text,
                    options,
                    answer,
                });
            }
            quizzes.push(QuizBank {
                class_hour: hour,
                questions,
            });
        }

        Ok(Course {
            id,
            title,
            occupation,
            level,
            lessons,
            quizzes,
            origin: file.to_path_buf(),
        })
    }

    /// Total courseware length in seconds.
    pub fn duration_seconds(&self) -> u64 {
        self.lessons
            .iter()
            .map(|l| u64::from(l.media.duration_seconds))
            .sum()
    }

    /// Class hours this course offers under `policy`: courseware length / class hour
    /// (R-ST-5), rounded down.
    pub fn class_hours(&self, policy: &Policy) -> u32 {
        (self.duration_seconds() / policy.class_hour().as_secs()) as u32
    }

    /// The lesson playing at course position `pos` (seconds), and the offset in it.
    pub fn lesson_at(&self, pos: f64) -> Option<(usize, f64)> {
        let mut start = 0.0;
        for (i, l) in self.lessons.iter().enumerate() {
            let end = start + f64::from(l.media.duration_seconds);
            if pos < end || i + 1 == self.lessons.len() {
                return Some((i, (pos - start).max(0.0)));
            }
            start = end;
        }
        None
    }

    /// The quiz bank of a class hour.
    pub fn quiz(&self, class_hour: u32) -> Option<&QuizBank> {
        self.quizzes.iter().find(|b| b.class_hour == class_hour)
    }

    /// Checks what depends on the policy: at least one class hour, and a bank with
    /// enough questions for every class hour (R-AS-1).
    pub fn check_against(&self, policy: &Policy) -> Result<(), ManifestError> {
        let cx = Ctx { file: &self.origin };
        let hours = self.class_hours(policy);
        if hours == 0 {
            return Err(cx.err(
                "lessons",
                format!(
                    "courseware is {} s long, shorter than one class hour of {} min under profile `{}`",
                    self.duration_seconds(),
                    policy.class_hour_minutes.value,
                    policy.id
                ),
            ));
        }
        let need = policy.quiz_questions_per_class_hour.value as usize;
        for h in 1..=hours {
            match self.quiz(h) {
                None => {
                    return Err(cx.err(
                        "quizzes",
                        format!("class hour {h} has no quiz bank (R-AS-1)"),
                    ))
                }
                Some(b) if b.questions.len() < need => {
                    let i = self
                        .quizzes
                        .iter()
                        .position(|x| x.class_hour == h)
                        .unwrap_or(0);
                    return Err(cx.err(
                        format!("quizzes[{i}].questions"),
                        format!(
                            "class hour {h} has {} questions; profile `{}` asks {need} (R-AS-1)",
                            b.questions.len(),
                            policy.id
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> Value {
        crate::demo::course(1)
    }

    fn err_of(v: &Value) -> ManifestError {
        Course::parse(Path::new("c.json"), &v.to_string()).unwrap_err()
    }

    #[track_caller]
    fn expect(v: Value, field: &str, reason: &str) {
        let e = err_of(&v);
        let msg = e.to_string();
        assert_eq!(e.field(), Some(field), "{msg}");
        assert!(msg.starts_with("c.json: "), "{msg}");
        assert!(msg.contains(reason), "{msg}");
    }

    #[test]
    fn every_field_is_checked_and_named() {
        let mut v = demo();
        v.as_object_mut().unwrap().remove("title");
        expect(v, "title", "is missing");

        let mut v = demo();
        v["schema"] = "keshi-course/9".into();
        expect(v, "schema", "unsupported schema");

        let mut v = demo();
        v["level"] = "expert".into();
        expect(v, "level", "not one of junior");

        let mut v = demo();
        v["lessons"][1]["media"]["sha256"] = "abc".into();
        expect(v, "lessons[1].media.sha256", "64 lower-case hex");

        let mut v = demo();
        v["lessons"][0]["media"]["duration_seconds"] = 0.into();
        expect(v, "lessons[0].media.duration_seconds", "outside 1..=86400");

        let mut v = demo();
        v["lessons"][0]["media"]["path"] = "../../etc/passwd".into();
        expect(
            v,
            "lessons[0].media.path",
            "relative path inside the course folder",
        );

        let mut v = demo();
        v["lessons"][0]["media"]["url"] = "https://cdn.example/x.mp4".into();
        expect(v, "lessons[0].media", "not both");

        let mut v = demo();
        v["lessons"][1]["id"] = v["lessons"][0]["id"].clone();
        expect(v, "lessons[1].id", "duplicate lesson id");

        let mut v = demo();
        v["quizzes"][0]["questions"][2]["answer"] = 7.into();
        expect(v, "quizzes[0].questions[2].answer", "outside 0..=3");

        let mut v = demo();
        v["quizzes"][0]["questions"][0]["options"] = serde_json::json!(["only one"]);
        expect(v, "quizzes[0].questions[0].options", "2..=8 allowed");

        let mut v = demo();
        v["lessons"][0]["colour"] = "red".into();
        expect(v, "lessons[0].colour", "unknown field");

        let mut v = demo();
        v["lessons"] = serde_json::json!({});
        expect(v, "lessons", "must be an array");
    }

    #[test]
    fn syntax_errors_give_line_and_column() {
        let e = Course::parse(Path::new("c.json"), "{\n  \"id\": ,\n}").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("c.json") && msg.contains("line 2"), "{msg}");
    }

    #[test]
    fn policy_coupling_is_checked() {
        let policy = Policy::by_id("shanxi").unwrap();
        let mut v = demo();
        v["quizzes"][0]["questions"]
            .as_array_mut()
            .unwrap()
            .truncate(3);
        let c = Course::parse(Path::new("c.json"), &v.to_string()).unwrap();
        let e = c.check_against(&policy).unwrap_err();
        assert_eq!(e.field(), Some("quizzes[0].questions"));
        assert!(e.to_string().contains("profile `shanxi` asks 5"));

        let mut v = demo();
        v["lessons"].as_array_mut().unwrap().truncate(1);
        let c = Course::parse(Path::new("c.json"), &v.to_string()).unwrap();
        let e = c.check_against(&policy).unwrap_err();
        assert!(e.to_string().contains("shorter than one class hour"), "{e}");
    }

    #[test]
    fn lesson_at_maps_course_positions() {
        let c = Course::parse(Path::new("c.json"), &demo().to_string()).unwrap();
        assert_eq!(c.lesson_at(0.0), Some((0, 0.0)));
        assert_eq!(c.lesson_at(1400.0), Some((1, 50.0)));
        assert_eq!(c.lesson_at(99_999.0).map(|x| x.0), Some(1));
    }
}
