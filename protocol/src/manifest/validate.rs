//! Values of a parsed manifest: lengths, ids, hashes, paths, duplicates, answers.

use std::collections::BTreeSet;
use std::path::Path;

use super::raw::RawCourse;
use super::{Course, Lesson, ManifestError, Media, MediaSource, Question, QuizBank, SCHEMA};
use crate::policy::Level;

struct Check<'a> {
    file: &'a Path,
}

impl Check<'_> {
    fn err(&self, field: impl Into<String>, reason: impl Into<String>) -> ManifestError {
        ManifestError::Field {
            file: self.file.to_path_buf(),
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// A non-empty string of at most `max` characters.
    fn text(&self, field: &str, s: String, max: usize) -> Result<String, ManifestError> {
        if s.trim().is_empty() {
            return Err(self.err(field, "must not be empty"));
        }
        if s.chars().count() > max {
            return Err(self.err(field, format!("is longer than {max} characters")));
        }
        Ok(s)
    }

    fn id(&self, field: &str, s: String) -> Result<String, ManifestError> {
        let s = self.text(field, s, 64)?;
        if !is_id(&s) {
            return Err(self.err(field, "use letters, digits, `-`, `_` or `.` (at most 64)"));
        }
        Ok(s)
    }

    fn range(&self, field: &str, n: u64, lo: u64, hi: u64) -> Result<u64, ManifestError> {
        if !(lo..=hi).contains(&n) {
            return Err(self.err(field, format!("{n} is outside {lo}..={hi}")));
        }
        Ok(n)
    }

    fn non_empty<T>(&self, field: &str, v: &[T]) -> Result<(), ManifestError> {
        if v.is_empty() {
            return Err(self.err(field, "must not be empty"));
        }
        Ok(())
    }
}

fn is_id(s: &str) -> bool {
    // Not only dots: an id names a directory and a URL path segment (`.`/`..`
    // would climb out of either).
    !s.is_empty()
        && !s.bytes().all(|b| b == b'.')
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn is_relative_inside(p: &str) -> bool {
    let pp = Path::new(p);
    !pp.is_absolute()
        && !p.contains('\\')
        && pp
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
}

pub(super) fn course(file: &Path, raw: RawCourse) -> Result<Course, ManifestError> {
    let cx = Check { file };
    let schema = cx.text("schema", raw.schema, 64)?;
    if schema != SCHEMA {
        return Err(cx.err(
            "schema",
            format!("unsupported schema `{schema}` (this build reads `{SCHEMA}`)"),
        ));
    }
    let id = cx.id("id", raw.id)?;
    let title = cx.text("title", raw.title, 200)?;
    let occupation = cx.text("occupation", raw.occupation, 100)?;
    let level = match cx.text("level", raw.level, 32)?.as_str() {
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

    cx.non_empty("lessons", &raw.lessons)?;
    let mut lessons = Vec::with_capacity(raw.lessons.len());
    let mut lesson_ids = BTreeSet::new();
    for (i, l) in raw.lessons.into_iter().enumerate() {
        let at = format!("lessons[{i}]");
        let lid = cx.id(&format!("{at}.id"), l.id)?;
        if !lesson_ids.insert(lid.clone()) {
            return Err(cx.err(format!("{at}.id"), format!("duplicate lesson id `{lid}`")));
        }
        let ltitle = cx.text(&format!("{at}.title"), l.title, 200)?;
        let mat = format!("{at}.media");
        let m = l.media;
        let source = match (m.path, m.url) {
            (Some(_), Some(_)) => return Err(cx.err(&mat, "give either `path` or `url`, not both")),
            (None, None) => return Err(cx.err(&mat, "needs `path` or `url`")),
            (Some(p), None) => {
                let field = format!("{mat}.path");
                let p = cx.text(&field, p, 512)?;
                if !is_relative_inside(&p) {
                    return Err(cx.err(
                        field,
                        "must be a relative path inside the course folder (no `..`, no absolute path)",
                    ));
                }
                MediaSource::Path(p)
            }
            (None, Some(u)) => {
                let field = format!("{mat}.url");
                let u = cx.text(&field, u, 2048)?;
                if !(u.starts_with("https://") || u.starts_with("http://")) {
                    return Err(cx.err(field, "must be an http(s) URL"));
                }
                MediaSource::Url(u)
            }
        };
        // A lesson longer than 24 h is a broken manifest, not a course.
        let duration = cx.range(
            &format!("{mat}.duration_seconds"),
            m.duration_seconds,
            1,
            86_400,
        )?;
        let field = format!("{mat}.sha256");
        let sha = cx.text(&field, m.sha256, 64)?;
        if !is_sha256(&sha) {
            return Err(cx.err(field, "must be 64 lower-case hex digits (SHA-256)"));
        }
        lessons.push(Lesson {
            id: lid,
            title: ltitle,
            media: Media {
                source,
                duration_seconds: u32::try_from(duration).unwrap_or(u32::MAX),
                sha256: sha,
            },
        });
    }

    cx.non_empty("quizzes", &raw.quizzes)?;
    let mut quizzes: Vec<QuizBank> = Vec::with_capacity(raw.quizzes.len());
    let mut question_ids = BTreeSet::new();
    for (i, b) in raw.quizzes.into_iter().enumerate() {
        let at = format!("quizzes[{i}]");
        let field = format!("{at}.class_hour");
        let hour = u32::try_from(cx.range(&field, b.class_hour, 1, 10_000)?).unwrap_or(u32::MAX);
        if quizzes.iter().any(|q| q.class_hour == hour) {
            return Err(cx.err(field, format!("class hour {hour} has two quiz banks")));
        }
        cx.non_empty(&format!("{at}.questions"), &b.questions)?;
        let mut questions = Vec::with_capacity(b.questions.len());
        for (j, q) in b.questions.into_iter().enumerate() {
            let qat = format!("{at}.questions[{j}]");
            let qid = cx.text(&format!("{qat}.id"), q.id, 64)?;
            if !question_ids.insert(qid.clone()) {
                return Err(cx.err(
                    format!("{qat}.id"),
                    format!("duplicate question id `{qid}`"),
                ));
            }
            let text = cx.text(&format!("{qat}.text"), q.text, 1000)?;
            let oat = format!("{qat}.options");
            if !(2..=8).contains(&q.options.len()) {
                return Err(cx.err(
                    &oat,
                    format!("has {} options; 2..=8 allowed", q.options.len()),
                ));
            }
            let mut options: Vec<String> = Vec::with_capacity(q.options.len());
            for (k, o) in q.options.into_iter().enumerate() {
                if o.trim().is_empty() {
                    return Err(cx.err(format!("{oat}[{k}]"), "must be a non-empty string"));
                }
                if options.contains(&o) {
                    return Err(cx.err(format!("{oat}[{k}]"), "repeats another option"));
                }
                options.push(o);
            }
            let last = options.len() as u64 - 1;
            let answer = match q.answer {
                Some(a) => Some(cx.range(&format!("{qat}.answer"), a, 0, last)?),
                None => None,
            };
            questions.push(Question {
                id: qid,
                text,
                options,
                answer: answer.map(|a| usize::try_from(a).unwrap_or(usize::MAX)),
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
