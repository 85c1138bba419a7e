//! Per-province policy profiles (R-ST-1, R-ST-3, R-ST-4, R-ST-5, R-AS-1..R-AS-3, R-AS-5).
//!
//! One profile per seed document, embedded in the binary as JSON data
//! (`player-core/profiles/*.json`). Every parameter carries the clause it comes from
//! and its basis:
//! - `explicit`: the profile's own document sets the value;
//! - `baseline`: the document is silent, and Keshi applies the value another seed sets
//!   (the clause cited names that seed);
//! - `keshi-default`: no seed sets a number; Keshi's product choice, documented.
//!
//! Raw profile JSON becomes a validated [`Policy`] in one place ([`Policy::from_json`]);
//! the rest of the core only sees validated values.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The embedded profiles, by id.
const EMBEDDED: &[(&str, &str)] = &[
    ("shanghai", include_str!("../profiles/shanghai.json")),
    ("shandong", include_str!("../profiles/shandong.json")),
    ("chongqing", include_str!("../profiles/chongqing.json")),
    ("shanxi", include_str!("../profiles/shanxi.json")),
    ("shapingba", include_str!("../profiles/shapingba.json")),
];

/// The demo profile: Shanxi's rules with 2-minute class hours, for the app's demo
/// course and its end-to-end tests. Not a province: `ids()` does not list it.
const DEMO: (&str, &str) = ("demo", include_str!("../profiles/demo.json"));

/// The format tag every profile file carries.
pub const POLICY_FORMAT: &str = "keshi-policy/1";

/// Why a profile could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// No embedded profile has this id.
    #[error(
        "unknown policy profile `{0}` (known: shanghai, shandong, chongqing, shanxi, shapingba)"
    )]
    Unknown(String),
    /// The profile JSON does not parse.
    #[error("policy profile `{profile}`: invalid JSON: {source}")]
    Json {
        /// Profile id or file.
        profile: String,
        /// Parser error.
        #[source]
        source: serde_json::Error,
    },
    /// A parameter is missing, out of range or lacks its citation.
    #[error("policy profile `{profile}`: parameter `{param}`: {reason}")]
    BadValue {
        /// Profile id or file.
        profile: String,
        /// Parameter name.
        param: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Course level (R-AS-3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(
    feature = "ts",
    derive(ts_rs::TS),
    ts(export, export_to = "../../ui/src/bindings/")
)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// 初级
    Junior,
    /// 中级
    Intermediate,
    /// 高级
    Senior,
}

impl Level {
    /// Lower-case name as used in manifests and profiles.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Junior => "junior",
            Level::Intermediate => "intermediate",
            Level::Senior => "senior",
        }
    }
}

/// Required class hours for one level (R-AS-3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequiredHours {
    /// Minimum class hours a course of this level must offer.
    pub course_min: u32,
    /// Minimum class hours a learner must study.
    pub learner_min: u32,
}

/// Where a parameter's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Basis {
    /// The profile's own document sets it.
    Explicit,
    /// Another seed's clause, applied because this document is silent.
    Baseline,
    /// Keshi's documented product choice.
    KeshiDefault,
}

/// A parameter with its citation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cited<T> {
    /// The value.
    pub value: T,
    /// The clause it comes from.
    pub clause: String,
    /// Explicit, baseline or Keshi default.
    pub basis: Basis,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawParams {
    class_hour_minutes: Cited<u32>,
    captures_per_class_hour: Cited<u32>,
    capture_response_seconds: Cited<u32>,
    idle_timeout_seconds: Cited<u32>,
    playback_rate: Cited<f64>,
    quiz_questions_per_class_hour: Cited<u32>,
    quiz_pass_ratio: Cited<f64>,
    quiz_attempts_per_round: Cited<u32>,
    quiz_cooldown_minutes: Cited<u32>,
    required_hours: Cited<BTreeMap<Level, RequiredHours>>,
    attendance_threshold: Cited<f64>,
    daily_study_cap_minutes: Cited<u32>,
    study_window_hours: Cited<[u32; 2]>,
    subsidy_fen_per_class_hour: Cited<BTreeMap<Level, u32>>,
    online_share_max: Cited<Option<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    format: String,
    id: String,
    name_zh: String,
    name_en: String,
    document: String,
    seed: String,
    params: RawParams,
}

/// A validated policy profile.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Policy {
    /// Profile id (`shanxi`, ...).
    pub id: String,
    /// Chinese name of the region.
    pub name_zh: String,
    /// English name of the region.
    pub name_en: String,
    /// The seed document's number.
    pub document: String,
    /// The seed file under `shared/seeds/`.
    pub seed: String,
    /// Minutes of credited courseware that make one class hour (R-ST-5).
    pub class_hour_minutes: Cited<u32>,
    /// Random face captures per class hour, at least 1 (R-ST-3).
    pub captures_per_class_hour: Cited<u32>,
    /// Seconds a learner has to answer a capture before it counts as failed.
    pub capture_response_seconds: Cited<u32>,
    /// Seconds without input after which study stops (R-ST-4).
    pub idle_timeout_seconds: Cited<u32>,
    /// The only playback rate allowed (R-ST-1).
    pub playback_rate: Cited<f64>,
    /// Quiz questions at the end of each class hour, at least 5 (R-AS-1).
    pub quiz_questions_per_class_hour: Cited<u32>,
    /// Share of right answers that passes a quiz (R-AS-2).
    pub quiz_pass_ratio: Cited<f64>,
    /// Quiz attempts before a pause (R-AS-1: limited attempts).
    pub quiz_attempts_per_round: Cited<u32>,
    /// Minutes a learner waits after a round of failed attempts.
    pub quiz_cooldown_minutes: Cited<u32>,
    /// Required class hours per level (R-AS-3).
    pub required_hours: Cited<BTreeMap<Level, RequiredHours>>,
    /// Attendance rate a learner must reach (R-AS-5).
    pub attendance_threshold: Cited<f64>,
    /// Credited study in one day (China time) above which the course-farming check
    /// flags the day for review (R-SV-3).
    pub daily_study_cap_minutes: Cited<u32>,
    /// `[from, to)`: the hours of the day (China time) in which study is expected;
    /// credited study outside them is flagged for review (R-SV-3).
    pub study_window_hours: Cited<[u32; 2]>,
    /// Subsidy per certified learner per class hour, by level, in fen (R-QA-3).
    pub subsidy_fen_per_class_hour: Cited<BTreeMap<Level, u32>>,
    /// The most of a training plan's class hours that may be online (R-SV-8:
    /// Shanghai 0.5, Shandong 0.4); `None` where the seed sets no fixed share.
    pub online_share_max: Cited<Option<f64>>,
}

impl Policy {
    /// Loads an embedded profile by id.
    pub fn by_id(id: &str) -> Result<Policy, PolicyError> {
        let (_, json) = EMBEDDED
            .iter()
            .chain(std::iter::once(&DEMO))
            .find(|(name, _)| *name == id)
            .ok_or_else(|| PolicyError::Unknown(id.to_owned()))?;
        Policy::from_json(id, json)
    }

    /// The demo profile (see `profiles/demo.json`).
    pub fn demo() -> Result<Policy, PolicyError> {
        Policy::from_json(DEMO.0, DEMO.1)
    }

    /// Ids of all embedded province profiles (the demo profile is not one).
    pub fn ids() -> impl Iterator<Item = &'static str> {
        EMBEDDED.iter().map(|(id, _)| *id)
    }

    /// Parses and validates a profile. `origin` names it in errors.
    pub fn from_json(origin: &str, json: &str) -> Result<Policy, PolicyError> {
        let raw: RawProfile = serde_json::from_str(json).map_err(|source| PolicyError::Json {
            profile: origin.to_owned(),
            source,
        })?;
        let bad = |param: &str, reason: String| PolicyError::BadValue {
            profile: origin.to_owned(),
            param: param.to_owned(),
            reason,
        };
        if raw.format != POLICY_FORMAT {
            return Err(bad(
                "format",
                format!("expected `{POLICY_FORMAT}`, found `{}`", raw.format),
            ));
        }
        let p = raw.params;
        let cite = |param: &str, clause: &str| {
            if clause.trim().is_empty() {
                Err(bad(param, "has no clause citation".into()))
            } else {
                Ok(())
            }
        };
        cite("class_hour_minutes", &p.class_hour_minutes.clause)?;
        cite("captures_per_class_hour", &p.captures_per_class_hour.clause)?;
        cite(
            "capture_response_seconds",
            &p.capture_response_seconds.clause,
        )?;
        cite("idle_timeout_seconds", &p.idle_timeout_seconds.clause)?;
        cite("playback_rate", &p.playback_rate.clause)?;
        cite(
            "quiz_questions_per_class_hour",
            &p.quiz_questions_per_class_hour.clause,
        )?;
        cite("quiz_pass_ratio", &p.quiz_pass_ratio.clause)?;
        cite("quiz_attempts_per_round", &p.quiz_attempts_per_round.clause)?;
        cite("quiz_cooldown_minutes", &p.quiz_cooldown_minutes.clause)?;
        cite("required_hours", &p.required_hours.clause)?;
        cite("attendance_threshold", &p.attendance_threshold.clause)?;
        cite("daily_study_cap_minutes", &p.daily_study_cap_minutes.clause)?;
        cite("study_window_hours", &p.study_window_hours.clause)?;
        cite(
            "subsidy_fen_per_class_hour",
            &p.subsidy_fen_per_class_hour.clause,
        )?;
        cite("online_share_max", &p.online_share_max.clause)?;
        if let Some(v) = p.online_share_max.value {
            if !(v > 0.0 && v <= 1.0) {
                return Err(bad(
                    "online_share_max",
                    format!("{v} is not a share in (0, 1]"),
                ));
            }
        }

        let in_range = |param: &str, v: u32, lo: u32, hi: u32| {
            if (lo..=hi).contains(&v) {
                Ok(())
            } else {
                Err(bad(param, format!("{v} is outside {lo}..={hi}")))
            }
        };
        in_range("class_hour_minutes", p.class_hour_minutes.value, 1, 240)?;
        // R-ST-3: at least one capture per class hour; more than one a minute is abuse.
        in_range(
            "captures_per_class_hour",
            p.captures_per_class_hour.value,
            1,
            p.class_hour_minutes.value,
        )?;
        in_range(
            "capture_response_seconds",
            p.capture_response_seconds.value,
            10,
            900,
        )?;
        in_range(
            "idle_timeout_seconds",
            p.idle_timeout_seconds.value,
            30,
            3600,
        )?;
        // R-AS-1: at least five questions.
        in_range(
            "quiz_questions_per_class_hour",
            p.quiz_questions_per_class_hour.value,
            5,
            100,
        )?;
        in_range(
            "quiz_attempts_per_round",
            p.quiz_attempts_per_round.value,
            1,
            20,
        )?;
        in_range(
            "quiz_cooldown_minutes",
            p.quiz_cooldown_minutes.value,
            0,
            24 * 60,
        )?;
        // R-ST-1: no speed-up, so the only allowed rate is 1.0.
        if p.playback_rate.value != 1.0 {
            return Err(bad(
                "playback_rate",
                format!(
                    "{} is not allowed: only 1.0 (R-ST-1)",
                    p.playback_rate.value
                ),
            ));
        }
        let ratio = |param: &str, v: f64| {
            if v.is_finite() && v > 0.0 && v <= 1.0 {
                Ok(())
            } else {
                Err(bad(param, format!("{v} is not a ratio in (0, 1]")))
            }
        };
        ratio("quiz_pass_ratio", p.quiz_pass_ratio.value)?;
        ratio("attendance_threshold", p.attendance_threshold.value)?;
        in_range(
            "daily_study_cap_minutes",
            p.daily_study_cap_minutes.value,
            60,
            24 * 60,
        )?;
        let [from, to] = p.study_window_hours.value;
        if from >= to || to > 24 {
            return Err(bad(
                "study_window_hours",
                format!("[{from}, {to}] is not a window of hours 0..=24"),
            ));
        }
        for level in [Level::Junior, Level::Intermediate, Level::Senior] {
            if !p.subsidy_fen_per_class_hour.value.contains_key(&level) {
                return Err(bad(
                    "subsidy_fen_per_class_hour",
                    format!("missing level `{}`", level.as_str()),
                ));
            }
            let Some(h) = p.required_hours.value.get(&level) else {
                return Err(bad(
                    "required_hours",
                    format!("missing level `{}`", level.as_str()),
                ));
            };
            if h.learner_min == 0 || h.learner_min > h.course_min {
                return Err(bad(
                    "required_hours",
                    format!(
                        "level `{}`: learner minimum {} must be in 1..={} (the course minimum)",
                        level.as_str(),
                        h.learner_min,
                        h.course_min
                    ),
                ));
            }
        }
        Ok(Policy {
            id: raw.id,
            name_zh: raw.name_zh,
            name_en: raw.name_en,
            document: raw.document,
            seed: raw.seed,
            class_hour_minutes: p.class_hour_minutes,
            captures_per_class_hour: p.captures_per_class_hour,
            capture_response_seconds: p.capture_response_seconds,
            idle_timeout_seconds: p.idle_timeout_seconds,
            playback_rate: p.playback_rate,
            quiz_questions_per_class_hour: p.quiz_questions_per_class_hour,
            quiz_pass_ratio: p.quiz_pass_ratio,
            quiz_attempts_per_round: p.quiz_attempts_per_round,
            quiz_cooldown_minutes: p.quiz_cooldown_minutes,
            required_hours: p.required_hours,
            attendance_threshold: p.attendance_threshold,
            daily_study_cap_minutes: p.daily_study_cap_minutes,
            study_window_hours: p.study_window_hours,
            subsidy_fen_per_class_hour: p.subsidy_fen_per_class_hour,
            online_share_max: p.online_share_max,
        })
    }

    /// Length of one class hour of credited courseware, ms.
    pub fn class_hour_ms(&self) -> u64 {
        u64::from(self.class_hour_minutes.value) * 60_000
    }

    /// The quiz pass ratio in thousandths (integer comparisons: 3/5 >= 0.6 exactly).
    #[allow(clippy::cast_possible_truncation)] // a validated ratio in (0, 1]: the product is in (0, 1000]
    pub fn pass_per_mille(&self) -> u64 {
        // A validated ratio in (0, 1]: the product is in (0, 1000].
        (self.quiz_pass_ratio.value * 1000.0).round() as u64
    }

    /// Length of one class hour of credited courseware.
    pub fn class_hour(&self) -> Duration {
        Duration::from_secs(u64::from(self.class_hour_minutes.value) * 60)
    }

    /// Required hours for a level.
    pub fn required(&self, level: Level) -> RequiredHours {
        // Validated in `from_json`: every level is present.
        self.required_hours
            .value
            .get(&level)
            .copied()
            .unwrap_or(RequiredHours {
                course_min: 0,
                learner_min: 0,
            })
    }

    /// Whether `correct` right answers out of `total` pass (R-AS-2).
    pub fn quiz_passes(&self, correct: usize, total: usize) -> bool {
        // Compare in integers scaled by 1000 so 3/5 >= 0.6 holds exactly.
        total > 0 && (correct as u64) * 1000 >= self.pass_per_mille() * total as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_profile_loads_with_the_seed_values() {
        for id in Policy::ids() {
            let p = Policy::by_id(id).unwrap();
            assert_eq!(p.id, id);
            assert_eq!(p.class_hour_minutes.value, 45, "{id}");
            assert!(p.captures_per_class_hour.value >= 1, "{id}");
            assert_eq!(p.playback_rate.value, 1.0, "{id}");
            assert!(p.quiz_questions_per_class_hour.value >= 5, "{id}");
            assert_eq!(p.quiz_pass_ratio.value, 0.6, "{id}");
            assert_eq!(p.attendance_threshold.value, 0.8, "{id}");
            assert_eq!(
                p.required(Level::Junior),
                RequiredHours {
                    course_min: 80,
                    learner_min: 60
                }
            );
            assert_eq!(p.required(Level::Senior).learner_min, 40);
        }
    }

    #[test]
    fn shanxi_cites_its_own_clauses() {
        let p = Policy::by_id("shanxi").unwrap();
        assert_eq!(p.captures_per_class_hour.basis, Basis::Explicit);
        assert!(p
            .captures_per_class_hour
            .clause
            .contains("晋人社厅发〔2021〕31号"));
        assert!(p.quiz_pass_ratio.clause.contains("60%"));
    }

    #[test]
    fn unknown_profile_is_a_clear_error() {
        let e = Policy::by_id("beijing").unwrap_err();
        assert!(e.to_string().contains("unknown policy profile `beijing`"));
    }

    #[test]
    fn bad_values_are_refused_naming_the_parameter() {
        let base = include_str!("../profiles/shanxi.json");
        let cases = [
            ("\"value\": 1.0", "\"value\": 2.0", "playback_rate"),
            (
                "\"value\": 5,",
                "\"value\": 3,",
                "quiz_questions_per_class_hour",
            ),
            ("\"value\": 0.6", "\"value\": 1.6", "quiz_pass_ratio"),
        ];
        for (from, to, param) in cases {
            assert!(base.contains(from), "{from}");
            let json = base.replacen(from, to, 1);
            let e = Policy::from_json("t", &json).unwrap_err();
            assert!(e.to_string().contains(param), "{e}");
        }
        let no_cite = base.replacen(
            "\"clause\": \"晋人社厅发〔2021〕31号 二（五）2 每个",
            "\"clause\": \"\", \"x\": \"",
            1,
        );
        assert!(Policy::from_json("t", &no_cite).is_err());
    }

    #[test]
    fn pass_ratio_is_exact_at_the_boundary() {
        let p = Policy::by_id("shanxi").unwrap();
        assert!(p.quiz_passes(3, 5));
        assert!(!p.quiz_passes(2, 5));
        assert!(p.quiz_passes(6, 10));
        assert!(!p.quiz_passes(0, 0));
    }
}

#[cfg(test)]
mod demo_tests {
    use super::*;

    #[test]
    fn demo_profile_is_shanxi_with_short_class_hours() {
        let d = Policy::demo().unwrap();
        let s = Policy::by_id("shanxi").unwrap();
        assert_eq!(Policy::by_id("demo").unwrap().id, "demo");
        assert!(!Policy::ids().any(|id| id == "demo"));
        assert_eq!(d.class_hour_minutes.value, 2);
        assert_eq!(
            d.captures_per_class_hour.value,
            s.captures_per_class_hour.value
        );
        assert_eq!(d.quiz_questions_per_class_hour.value, 5);
        assert_eq!(d.quiz_pass_ratio.value, 0.6);
        assert_eq!(d.playback_rate.value, 1.0);
    }
}
