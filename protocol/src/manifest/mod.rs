//! Course manifests (versioned JSON schema `keshi-course/1`).
//!
//! A manifest names the course (id, title, occupation, level — R-AS-3), its lessons in
//! order with their media (path or URL, duration, SHA-256) and a quiz bank for every
//! class hour (R-AS-1). Loading validates everything; every error names the file, the
//! field (as a JSON path such as `lessons[2].media.sha256`) and the reason.
//!
//! Two passes, like ripgrep's flags to validated arguments: `raw` is the JSON
//! shape (serde derives, unknown fields refused, the path of a structural error kept
//! by `serde_path_to_error`), `validate` turns it into a [`Course`] checking values
//! (lengths, ids, hashes, paths, duplicates, answer indices).
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

mod raw;
mod validate;

use std::path::{Path, PathBuf};

use serde::Serialize;

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
    /// An http(s) URL.
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
    /// Index of the right option: in the platform's published copy only. A learner's
    /// device receives the manifest without it ([`Course::without_answers`]) and the
    /// platform grades (issue 11).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<usize>,
}

/// A grade of one quiz attempt ([`Course::grade`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuizGrade {
    /// Right answers.
    pub correct: u32,
    /// Questions asked.
    pub total: u32,
    /// Passed under the profile's ratio (R-AS-2).
    pub passed: bool,
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
        let raw = raw::parse(file, text)?;
        validate::course(file, raw)
    }

    /// Total courseware length in seconds.
    pub fn duration_seconds(&self) -> u64 {
        self.lessons
            .iter()
            .map(|l| u64::from(l.media.duration_seconds))
            .sum()
    }

    /// Total courseware length in milliseconds.
    pub fn duration_ms(&self) -> u64 {
        self.duration_seconds().saturating_mul(1000)
    }

    /// Class hours this course offers under `policy`: courseware length / class hour
    /// (R-ST-5), rounded down.
    pub fn class_hours(&self, policy: &Policy) -> u32 {
        u32::try_from(self.duration_ms() / policy.class_hour_ms().max(1)).unwrap_or(u32::MAX)
    }

    /// The rules that make a class hour of this course under `policy`.
    pub fn hour_rules(&self, policy: &Policy) -> crate::fold::HourRules {
        crate::fold::HourRules::new(policy, self.duration_ms())
    }

    /// Where each lesson starts on the course timeline, ms, and its length, ms.
    pub fn lesson_spans(&self) -> Vec<(u64, u64)> {
        let mut start = 0u64;
        self.lessons
            .iter()
            .map(|l| {
                let d = u64::from(l.media.duration_seconds) * 1000;
                let span = (start, d);
                start += d;
                span
            })
            .collect()
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

    /// The course as a learner's device may hold it: every answer key removed.
    pub fn without_answers(&self) -> Course {
        let mut c = self.clone();
        for q in c.quizzes.iter_mut().flat_map(|b| b.questions.iter_mut()) {
            q.answer = None;
        }
        c
    }

    /// The first question without its answer key, if any (the platform publishes only
    /// courses it can grade).
    pub fn missing_answer(&self) -> Option<&Question> {
        self.quizzes
            .iter()
            .flat_map(|b| b.questions.iter())
            .find(|q| q.answer.is_none())
    }

    /// Grades answers to the questions `ids` (in order) of class hour `hour` with
    /// this manifest's answer keys — the platform's published copy; a copy without
    /// keys grades everything wrong. A question of another hour's bank, one the bank
    /// does not hold, or one asked twice counts as wrong (a known answer repeated is
    /// not a quiz); a quiz needs the profile's number of questions to pass (R-AS-1)
    /// and its pass ratio (R-AS-2).
    pub fn grade(
        &self,
        policy: &Policy,
        hour: u32,
        ids: &[String],
        answers: &[crate::fact::Answer],
    ) -> QuizGrade {
        let bank = self.quiz(hour);
        let mut correct = 0u32;
        let mut seen = std::collections::HashSet::new();
        for (i, id) in ids.iter().enumerate() {
            let first = seen.insert(id.as_str());
            let right = first
                && bank
                    .and_then(|b| b.questions.iter().find(|q| &q.id == id))
                    .is_some_and(|q| {
                        q.answer.is_some()
                            && answers.get(i).and_then(|a| a.picks(&q.options)) == q.answer
                    });
            if right {
                correct = correct.saturating_add(1);
            }
        }
        let total = u32::try_from(ids.len()).unwrap_or(u32::MAX);
        let enough = total >= policy.quiz_questions_per_class_hour.value;
        let passed = enough
            && total > 0
            && u64::from(correct) * 1000 >= policy.pass_per_mille() * u64::from(total);
        QuizGrade {
            correct,
            total,
            passed,
        }
    }

    /// The quiz bank of a class hour.
    pub fn quiz(&self, class_hour: u32) -> Option<&QuizBank> {
        self.quizzes.iter().find(|b| b.class_hour == class_hour)
    }

    /// Checks what depends on the policy: at least one class hour, and a bank with
    /// enough questions for every class hour (R-AS-1).
    pub fn check_against(&self, policy: &Policy) -> Result<(), ManifestError> {
        let err = |field: String, reason: String| ManifestError::Field {
            file: self.origin.clone(),
            field,
            reason,
        };
        let hours = self.class_hours(policy);
        if hours == 0 {
            return Err(err(
                "lessons".into(),
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
            match self.quizzes.iter().position(|b| b.class_hour == h) {
                None => {
                    return Err(err(
                        "quizzes".into(),
                        format!("class hour {h} has no quiz bank (R-AS-1)"),
                    ))
                }
                Some(i) if self.quizzes[i].questions.len() < need => {
                    return Err(err(
                        format!("quizzes[{i}].questions"),
                        format!(
                            "class hour {h} has {} questions; profile `{}` asks {need} (R-AS-1)",
                            self.quizzes[i].questions.len(),
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
mod tests;
