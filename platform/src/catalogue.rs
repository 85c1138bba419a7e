//! The course catalogue: what an institution published (manifest, media hashes,
//! quiz bank with its answers, profile). Records of a course that is not in the
//! catalogue earn nothing; a course's rules (class-hour length, captures per hour,
//! course length) and its grading come from here, never from the device (R-ST-5,
//! R-AS-1, R-AS-2).
//!
//! Pure: the store loads the published manifests; this module turns them into rules
//! and grades answers.

use std::collections::BTreeMap;

use keshi_protocol::fact::{Answer, SessionStart};
use keshi_protocol::fold::{HourRules, Rules};
use keshi_protocol::manifest::Course;
use keshi_protocol::policy::Policy;

/// One published course (its latest version).
#[derive(Debug, Clone)]
pub struct Published {
    /// The manifest (with answers).
    pub course: Course,
    /// Version number (1, 2, …).
    pub version: u32,
    /// The institution that published it.
    pub institution_id: String,
    /// The profile it runs under.
    pub policy: Policy,
    /// Its rules.
    pub rules: HourRules,
}

/// The platform's grade of one quiz attempt (the shared grading of
/// [`Course::grade`]).
pub use keshi_protocol::manifest::QuizGrade as Grade;

impl Published {
    /// A course as published: validated against its profile.
    pub fn new(
        course: Course,
        version: u32,
        institution_id: String,
        policy: Policy,
    ) -> Result<Published, keshi_protocol::manifest::ManifestError> {
        course.check_against(&policy)?;
        // The platform grades every quiz: it must hold every answer key.
        if let Some(q) = course.missing_answer() {
            return Err(keshi_protocol::manifest::ManifestError::Field {
                file: course.origin.clone(),
                field: format!("question {}", q.id),
                reason: "has no answer key; the platform grades quizzes and needs every key".into(),
            });
        }
        let rules = course.hour_rules(&policy);
        Ok(Published {
            course,
            version,
            institution_id,
            policy,
            rules,
        })
    }

    /// Grades answers to the questions `ids` (in order) of class hour `hour` against
    /// the published bank ([`Course::grade`]: the same code a simulated platform
    /// uses).
    pub fn grade(&self, hour: u32, ids: &[String], answers: &[Answer]) -> Grade {
        self.course.grade(&self.policy, hour, ids, answers)
    }
}

/// Every published course, by id (the latest version of each).
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    courses: BTreeMap<String, Published>,
}

impl Catalogue {
    /// A catalogue of these courses (a later version of an id replaces an earlier).
    pub fn new(courses: impl IntoIterator<Item = Published>) -> Catalogue {
        let mut c = Catalogue::default();
        for p in courses {
            c.insert(p);
        }
        c
    }

    /// Adds a course (the latest version wins).
    pub fn insert(&mut self, p: Published) {
        match self.courses.get(&p.course.id) {
            Some(old) if old.version > p.version => {}
            _ => {
                self.courses.insert(p.course.id.clone(), p);
            }
        }
    }

    /// A course by id.
    pub fn get(&self, id: &str) -> Option<&Published> {
        self.courses.get(id)
    }

    /// Every course.
    pub fn iter(&self) -> impl Iterator<Item = &Published> {
        self.courses.values()
    }
}

impl Rules for Catalogue {
    /// The catalogue's rules of the course a session opens; `None` (earns nothing)
    /// for a course it does not hold, whatever the record claims.
    fn rules_for(&self, start: &SessionStart) -> Option<HourRules> {
        self.courses.get(&start.course).map(|p| p.rules)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn published() -> Published {
        let text = keshi_protocol::demo::course(1).to_string();
        let course = Course::parse(std::path::Path::new("c.json"), &text).unwrap();
        Published::new(course, 1, "inst".into(), Policy::by_id("shanxi").unwrap()).unwrap()
    }

    #[test]
    fn grading_uses_the_bank_not_the_device() {
        let p = published();
        let ids: Vec<String> = p.course.quizzes[0]
            .questions
            .iter()
            .map(|q| q.id.clone())
            .collect();
        let right: Vec<Answer> = p.course.quizzes[0]
            .questions
            .iter()
            .map(|q| Answer::Index(q.answer.unwrap()))
            .collect();
        assert_eq!(
            p.grade(1, &ids, &right),
            Grade {
                correct: 5,
                total: 5,
                passed: true
            }
        );
        let mut three = right.clone();
        three[0] = Answer::Index(3);
        three[1] = Answer::Index(3);
        assert!(p.grade(1, &ids, &three).passed, "3 of 5 = 60% passes");
        three[2] = Answer::Index(3);
        assert!(!p.grade(1, &ids, &three).passed);
        // Fewer questions than the profile asks never pass, even all right.
        assert!(!p.grade(1, &ids[..2], &right[..2]).passed);
        // Unknown question ids are wrong.
        let fake = vec!["nope".to_owned(); 5];
        assert_eq!(p.grade(1, &fake, &right).correct, 0);
        // One known answer asked five times is one right answer, not a pass.
        let same = vec![ids[0].clone(); 5];
        let same_right = vec![right[0].clone(); 5];
        let g = p.grade(1, &same, &same_right);
        assert_eq!((g.correct, g.passed), (1, false));
        // Hour 1's questions are no quiz of another hour.
        assert_eq!(p.grade(2, &ids, &right).correct, 0);
    }

    #[test]
    fn unknown_courses_have_no_rules() {
        let cat = Catalogue::new([published()]);
        let start = SessionStart {
            session: 1,
            course: "not-published".into(),
            profile: "shanxi".into(),
            class_hours: 100,
            course_ms: 1 << 40,
        };
        assert!(cat.rules_for(&start).is_none());
        let start = SessionStart {
            course: cat.iter().next().unwrap().course.id.clone(),
            class_hours: 100,
            course_ms: 1 << 40,
            ..start
        };
        // The claim is ignored: the catalogue's course length holds.
        assert_eq!(cat.rules_for(&start).unwrap().class_hours, 1);
    }
}
