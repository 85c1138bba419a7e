//! What a course-farming finding observed and the limit it was judged against, as
//! data (issue 13, R-SV-3): each rule's figures in one typed value, stored with the
//! finding (`findings.detail`), so the console words them in Simplified Chinese or
//! English from its i18n files (`finding.<kind>`, `finding.<kind>.limit`). The
//! English wording ([`Observation::observed_en`], [`Observation::limit_en`]) is
//! stored beside it for the command line, exports and findings older than this
//! column.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One finding's figures, by the kind of observation (`kind` in JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Observation {
    /// Replay flags raised on one day, by flag kind (`credit.rs`'s `FLAG_KINDS`).
    Flags {
        /// How many of each kind.
        counts: BTreeMap<String, u32>,
    },
    /// Passed captures whose photo has not arrived within the grace period.
    PhotosWaiting {
        /// How many.
        captures: u32,
        /// The grace period, hours.
        grace_hours: u32,
    },
    /// More credited study in one day than the cap.
    DailyCap {
        /// Credited minutes that day.
        minutes: f64,
        /// The day (China time), `YYYY-MM-DD`.
        day: String,
        /// The cap, minutes.
        cap_minutes: f64,
    },
    /// Credited study outside the hours of the day study is expected in.
    StudyWindow {
        /// Credited minutes outside.
        minutes: f64,
        /// The day (China time), `YYYY-MM-DD`.
        day: String,
        /// The window's first hour.
        from: u32,
        /// The hour it ends.
        to: u32,
    },
    /// Sessions of near-identical length starting at near-identical times.
    RegularSessions {
        /// Sessions.
        sessions: u32,
        /// On this many days.
        days: u32,
        /// Standard deviation of their lengths, seconds.
        length_sd_s: f64,
        /// Standard deviation of their start times of day, seconds.
        start_sd_s: f64,
        /// The length deviation below which they look scripted, seconds.
        length_floor_s: f64,
        /// The start deviation below which they look scripted, seconds.
        start_floor_s: f64,
    },
    /// A quiz answered faster than its questions can be read.
    FastQuiz {
        /// Questions.
        questions: u32,
        /// Seconds taken.
        seconds: f64,
        /// Class hour.
        class_hour: u32,
        /// Attempt.
        attempt: u32,
        /// The fewest seconds allowed.
        min_seconds: u32,
    },
    /// Many devices enrolled within the window.
    DeviceChanges {
        /// Devices enrolled within it.
        devices: u32,
        /// The most allowed.
        max: u32,
        /// The window, days.
        window_days: u32,
    },
    /// The same answers, wrong ones included, as other learners.
    IdenticalAnswers {
        /// Class hour.
        class_hour: u32,
        /// The other learners (ids).
        others: Vec<String>,
    },
    /// Several learners credited at the same moment from one network address.
    SharedAddress {
        /// How many learners.
        learners: u32,
        /// The address.
        address: String,
        /// The number that makes it a finding.
        min: u32,
    },
    /// A capture photo the platform's face check found not to be the learner.
    FaceMismatch {
        /// Embedding distance to the enrolment template.
        distance: f64,
        /// The threshold (a distance at or above it is another person).
        threshold: f64,
    },
    /// A capture photo that is the enrolment photo itself, or a copy of it (a
    /// replay, not a camera frame).
    EnrolmentCopy {
        /// Embedding distance to the enrolment template (0 for the same file).
        distance: f64,
    },
    /// A spot check found the learner's data abnormal (R-SV-6).
    SpotCheck {
        /// How it was checked (`video`, `phone`, `data`).
        method: String,
    },
}

fn minutes(m: f64) -> String {
    format!("{m:.1} min")
}

impl Observation {
    /// What was observed, in English.
    pub fn observed_en(&self) -> String {
        match self {
            Observation::Flags { counts } => counts
                .iter()
                .map(|(k, n)| format!("{n} × {k}"))
                .collect::<Vec<_>>()
                .join(", "),
            Observation::PhotosWaiting { captures, .. } => {
                format!("{captures} passed capture(s) whose photo has not arrived")
            }
            Observation::DailyCap { minutes: m, day, .. } => {
                format!("{} credited on {day}", minutes(*m))
            }
            Observation::StudyWindow {
                minutes: m,
                day,
                from,
                to,
            } => format!(
                "{} credited outside {from:02}:00–{to:02}:00 on {day}",
                minutes(*m)
            ),
            Observation::RegularSessions {
                sessions,
                days,
                length_sd_s,
                start_sd_s,
                ..
            } => format!(
                "{sessions} sessions on {days} days: length σ {length_sd_s:.0} s, start time σ {start_sd_s:.0} s"
            ),
            Observation::FastQuiz {
                questions,
                seconds,
                class_hour,
                attempt,
                ..
            } => format!(
                "{questions} questions answered in {seconds:.1} s (class hour {class_hour}, attempt {attempt})"
            ),
            Observation::DeviceChanges {
                devices,
                window_days,
                ..
            } => format!("{devices} devices enrolled within {window_days} days"),
            Observation::IdenticalAnswers { class_hour, others } => format!(
                "class hour {class_hour}: the same answers, wrong ones included, as {} other learner(s): {}",
                others.len(),
                others.join(", ")
            ),
            Observation::SharedAddress {
                learners, address, ..
            } => format!("{learners} learners credited at the same moment from {address}"),
            Observation::FaceMismatch { distance, .. } => {
                format!("the capture photo is not the enrolled learner (distance {distance:.3})")
            }
            Observation::EnrolmentCopy { distance } => format!(
                "the capture photo is a copy of the enrolment photo, not a camera frame (distance {distance:.3})"
            ),
            Observation::SpotCheck { method } => format!("spot check ({method}): abnormal"),
        }
    }

    /// What it was judged against, in English.
    pub fn limit_en(&self) -> String {
        match self {
            Observation::Flags { .. } => "none".into(),
            Observation::PhotosWaiting { grace_hours, .. } => {
                format!("photo within {grace_hours} h")
            }
            Observation::DailyCap { cap_minutes, .. } => minutes(*cap_minutes),
            Observation::StudyWindow { from, to, .. } => {
                format!("{from:02}:00–{to:02}:00 China time")
            }
            Observation::RegularSessions {
                length_floor_s,
                start_floor_s,
                ..
            } => format!("σ length ≥ {length_floor_s:.0} s or σ start ≥ {start_floor_s:.0} s"),
            Observation::FastQuiz { min_seconds, .. } => format!("{min_seconds} s"),
            Observation::DeviceChanges { max, .. } => format!("at most {max}"),
            Observation::IdenticalAnswers { .. } => "answers of one's own".into(),
            Observation::SharedAddress { min, .. } => format!("fewer than {min}"),
            Observation::FaceMismatch { threshold, .. } => {
                format!("distance below {threshold:.3}")
            }
            Observation::EnrolmentCopy { .. } => format!(
                "a camera frame (distance at least {:.3})",
                crate::faces::COPY_DISTANCE
            ),
            Observation::SpotCheck { .. } => "normal".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_english_wording_is_the_stored_one_and_the_json_names_its_kind() {
        let o = Observation::StudyWindow {
            minutes: 225.0,
            day: "2026-11-03".into(),
            from: 6,
            to: 23,
        };
        assert_eq!(
            o.observed_en(),
            "225.0 min credited outside 06:00–23:00 on 2026-11-03"
        );
        assert_eq!(o.limit_en(), "06:00–23:00 China time");
        let v = serde_json::to_value(&o).unwrap();
        assert_eq!(v["kind"], "study_window");
        assert_eq!(serde_json::from_value::<Observation>(v).unwrap(), o);
        let f = Observation::Flags {
            counts: [("outside_lease".to_owned(), 2), ("backdated".to_owned(), 1)].into(),
        };
        assert_eq!(f.observed_en(), "1 × backdated, 2 × outside_lease");
    }

    /// The console words every observation and every replay flag in both
    /// languages, and both dictionaries hold the same keys.
    #[test]
    fn the_console_words_every_kind_in_both_languages() {
        let zh: BTreeMap<String, String> =
            serde_json::from_str(include_str!("../console/i18n/zh-CN.json")).unwrap();
        let en: BTreeMap<String, String> =
            serde_json::from_str(include_str!("../console/i18n/en.json")).unwrap();
        assert_eq!(
            zh.keys().collect::<Vec<_>>(),
            en.keys().collect::<Vec<_>>(),
            "the two dictionaries differ in their keys"
        );
        let every = [
            Observation::Flags {
                counts: BTreeMap::new(),
            },
            Observation::PhotosWaiting {
                captures: 1,
                grace_hours: 24,
            },
            Observation::DailyCap {
                minutes: 1.0,
                day: String::new(),
                cap_minutes: 1.0,
            },
            Observation::StudyWindow {
                minutes: 1.0,
                day: String::new(),
                from: 6,
                to: 23,
            },
            Observation::RegularSessions {
                sessions: 5,
                days: 5,
                length_sd_s: 0.0,
                start_sd_s: 0.0,
                length_floor_s: 60.0,
                start_floor_s: 600.0,
            },
            Observation::FastQuiz {
                questions: 5,
                seconds: 1.0,
                class_hour: 1,
                attempt: 1,
                min_seconds: 10,
            },
            Observation::DeviceChanges {
                devices: 4,
                max: 3,
                window_days: 30,
            },
            Observation::IdenticalAnswers {
                class_hour: 1,
                others: vec![],
            },
            Observation::SharedAddress {
                learners: 3,
                address: String::new(),
                min: 3,
            },
            Observation::FaceMismatch {
                distance: 0.7,
                threshold: 0.5,
            },
            Observation::EnrolmentCopy { distance: 0.0 },
            Observation::SpotCheck {
                method: "video".into(),
            },
        ];
        for o in every {
            let v = serde_json::to_value(&o).unwrap();
            let kind = v["kind"].as_str().unwrap();
            for key in [format!("finding.{kind}"), format!("finding.{kind}.limit")] {
                assert!(zh.contains_key(&key), "zh-CN.json lacks {key}");
            }
        }
        for kind in crate::credit::FLAG_KINDS {
            let key = format!("flagkind.{kind}");
            assert!(zh.contains_key(&key), "zh-CN.json lacks {key}");
        }
        for verdict in keshi_protocol::staff::FaceVerdict::ALL {
            let key = format!("face.{}", verdict.as_str());
            assert!(zh.contains_key(&key), "zh-CN.json lacks {key}");
        }
    }
}
