//! The demo course: a valid manifest anyone can generate to try `keshi simulate`.
//!
//! Each class hour is two lessons of 22.5 minutes, so lesson durations add up to
//! exactly N class hours of 45 minutes (R-ST-5); [`course_with`] builds the same course
//! with other class-hour lengths and lesson counts (the app's demo uses the `demo`
//! profile's 2-minute class hours). Each class hour has a bank of five
//! real questions on low-voltage electrical safety (低压电工作业), enough for every
//! profile (R-AS-1). The bank has exactly as many questions as a quiz shows, so a
//! quiz presents them in bank order and timelines can answer them.
//!
//! The lessons' media files are not rendered here (this module does no I/O). Each
//! `sha256` is the SHA-256 of the lesson's media descriptor
//! (`keshi-demo-media:<lesson id>:<seconds>`), not of a video file, until
//! [`set_media_sha256`] writes a real file's hash: `keshi course demo --render-media`
//! renders real H.264 videos with ffmpeg and does that.

use serde_json::{json, Value};

use crate::record::Hash;

/// Real questions (text, options, right option).
const QUESTIONS: &[(&str, &[&str], usize)] = &[
    (
        "我国规定的安全电压额定值中，一般环境下最常用的是多少伏？",
        &["12 V", "36 V", "110 V", "220 V"],
        1,
    ),
    (
        "发现有人触电，首先应当怎么做？",
        &[
            "立即用手拉开触电者",
            "迅速切断电源或用绝缘物使其脱离电源",
            "先打电话再处理",
            "往触电者身上泼水",
        ],
        1,
    ),
    (
        "电气设备着火时，不能使用哪种灭火器？",
        &[
            "二氧化碳灭火器",
            "干粉灭火器",
            "泡沫灭火器",
            "七氟丙烷灭火器",
        ],
        2,
    ),
    (
        "停电检修时，在断开的开关操作手柄上应悬挂什么标示牌？",
        &[
            "止步，高压危险",
            "禁止合闸，有人工作",
            "在此工作",
            "从此上下",
        ],
        1,
    ),
    (
        "漏电保护器的主要作用是什么？",
        &[
            "防止过载",
            "防止人身触电和漏电火灾",
            "稳定电压",
            "提高功率因数",
        ],
        1,
    ),
    (
        "低压验电笔一般适用于多少伏以下的电压？",
        &["500 V", "1000 V", "36 V", "10 kV"],
        0,
    ),
    (
        "保护接地的主要作用是什么？",
        &["降低设备电压", "防止人身触电", "节约电能", "提高绝缘强度"],
        1,
    ),
    (
        "在潮湿场所使用手持电动工具，应选用哪一类工具？",
        &["Ⅰ类工具", "Ⅱ类或Ⅲ类工具", "任何工具均可", "金属外壳工具"],
        1,
    ),
    (
        "电工作业人员必须持有什么证件方可上岗？",
        &["驾驶证", "特种作业操作证", "健康证", "学历证书"],
        1,
    ),
    (
        "导线连接处的电阻应当怎样？",
        &[
            "越大越好",
            "不大于同长度导线的电阻",
            "与导线无关",
            "等于绝缘电阻",
        ],
        1,
    ),
];

/// Builds the demo manifest for `class_hours` class hours of 45 minutes, two lessons
/// each (`course_with(class_hours, 45, 2)`).
pub fn course(class_hours: u32) -> Value {
    course_with(class_hours, 45, 2)
}

/// Builds a demo manifest of `class_hours` class hours of `class_hour_minutes` minutes,
/// each split into `lessons_per_hour` lessons (ids `h01-a`, `h01-b`, …).
///
/// Lesson durations are whole seconds and add up to exactly one class hour per class
/// hour (R-ST-5): when the class hour does not divide evenly, the first lessons of the
/// hour are one second longer. Each lesson's `sha256` is the hash of its media
/// descriptor until [`set_media_sha256`] replaces it with a real file's hash.
///
/// # Panics
///
/// If `lessons_per_hour` is not in `1..=26`, or a class hour has fewer seconds than
/// lessons.
#[allow(clippy::cast_possible_truncation)] // lesson letters a.. for the few lessons of a demo hour
pub fn course_with(class_hours: u32, class_hour_minutes: u32, lessons_per_hour: u32) -> Value {
    assert!(
        (1..=26).contains(&lessons_per_hour),
        "lessons_per_hour must be 1..=26, got {lessons_per_hour}"
    );
    let hour_seconds = class_hour_minutes * 60;
    assert!(
        hour_seconds >= lessons_per_hour,
        "a {class_hour_minutes}-minute class hour cannot hold {lessons_per_hour} lessons"
    );
    let (base, extra) = (
        hour_seconds / lessons_per_hour,
        hour_seconds % lessons_per_hour,
    );
    let mut lessons = Vec::new();
    let mut quizzes = Vec::new();
    for h in 1..=class_hours {
        for k in 0..lessons_per_hour {
            let part = char::from(b'a' + k as u8);
            let id = format!("h{h:02}-{part}");
            let seconds = base + u32::from(k < extra);
            let descriptor = format!("keshi-demo-media:{id}:{seconds}");
            let zh = match lessons_per_hour {
                1 => String::new(),
                2 => format!("（{}）", if k == 0 { "上" } else { "下" }),
                _ => format!("（第{}节）", k + 1),
            };
            lessons.push(json!({
                "id": id,
                "title": format!("第{h}课时{zh}安全用电基础 / Class hour {h} ({part}): electrical safety basics"),
                "media": {
                    "path": format!("media/{id}.mp4"),
                    "duration_seconds": seconds,
                    "sha256": Hash::of(descriptor.as_bytes()).to_hex(),
                },
            }));
        }
        let questions: Vec<Value> = (0..5)
            .map(|i| {
                let (text, options, answer) =
                    QUESTIONS[((h as usize - 1) * 5 + i) % QUESTIONS.len()];
                json!({
                    "id": format!("h{h:02}-q{}", i + 1),
                    "text": text,
                    "options": options,
                    "answer": answer,
                })
            })
            .collect();
        quizzes.push(json!({ "class_hour": h, "questions": questions }));
    }
    let id = match (class_hour_minutes, lessons_per_hour) {
        (45, 2) => format!("demo-electrician-{class_hours}h"),
        (m, 2) => format!("demo-electrician-{class_hours}x{m}min"),
        (m, l) => format!("demo-electrician-{class_hours}x{m}min-{l}l"),
    };
    json!({
        "schema": crate::manifest::SCHEMA,
        "id": id,
        "title": "低压电工作业（演示课程）/ Low-voltage electrician (demo course)",
        "occupation": "电工",
        "level": "junior",
        "lessons": lessons,
        "quizzes": quizzes,
    })
}

/// Replaces the `sha256` of lesson `lesson_id` in a manifest built by [`course_with`]
/// with `sha256` (the real media file's hash). Returns `false` if there is no such
/// lesson.
pub fn set_media_sha256(course: &mut Value, lesson_id: &str, sha256: &Hash) -> bool {
    let Some(lessons) = course["lessons"].as_array_mut() else {
        return false;
    };
    match lessons.iter_mut().find(|l| l["id"] == lesson_id) {
        Some(lesson) => {
            lesson["media"]["sha256"] = sha256.to_hex().into();
            true
        }
        None => false,
    }
}

/// The right answers of a demo class hour, as option indices (for tests and docs).
pub fn answers(class_hour: u32) -> Vec<usize> {
    (0..5)
        .map(|i| QUESTIONS[((class_hour as usize - 1) * 5 + i) % QUESTIONS.len()].2)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Course;
    use crate::policy::Policy;

    #[test]
    fn demo_course_is_valid_for_every_profile() {
        for n in [1, 2, 7] {
            let text = serde_json::to_string(&course(n)).unwrap();
            let c = Course::parse(std::path::Path::new("demo.json"), &text).unwrap();
            for id in Policy::ids() {
                let p = Policy::by_id(id).unwrap();
                assert_eq!(c.class_hours(&p), n);
                c.check_against(&p).unwrap();
            }
            assert_eq!(c.duration_seconds(), u64::from(n) * 2700);
        }
    }

    #[test]
    fn short_class_hours_split_into_whole_seconds() {
        let demo = Policy::demo().unwrap();
        let v = course_with(2, 2, 2);
        assert_eq!(v["id"], "demo-electrician-2x2min");
        let c = Course::parse(std::path::Path::new("demo.json"), &v.to_string()).unwrap();
        c.check_against(&demo).unwrap();
        assert_eq!(c.class_hours(&demo), 2);
        let ids: Vec<&str> = c.lessons.iter().map(|l| l.id.as_str()).collect();
        assert_eq!(ids, ["h01-a", "h01-b", "h02-a", "h02-b"]);
        assert!(c.lessons.iter().all(|l| l.media.duration_seconds == 60));
        assert!(c.lessons[1].title.starts_with("第1课时（下）"));

        // 120 s in 7 lessons: 17 s each, and the first one second longer (7 * 17 + 1).
        let c = Course::parse(
            std::path::Path::new("demo.json"),
            &course_with(3, 2, 7).to_string(),
        )
        .unwrap();
        let secs: Vec<u32> = c.lessons[..7]
            .iter()
            .map(|l| l.media.duration_seconds)
            .collect();
        assert_eq!(secs, [18, 17, 17, 17, 17, 17, 17]);
        assert_eq!(c.duration_seconds(), 3 * 120);
        assert_eq!(c.lessons[6].id, "h01-g");
        assert!(c.lessons[6].title.starts_with("第1课时（第7节）"));
        c.check_against(&demo).unwrap();

        let c = Course::parse(
            std::path::Path::new("demo.json"),
            &course_with(1, 45, 1).to_string(),
        )
        .unwrap();
        assert_eq!(c.lessons.len(), 1);
        assert_eq!(c.lessons[0].media.duration_seconds, 2700);
        assert!(c.lessons[0].title.starts_with("第1课时安全用电基础"));
    }

    #[test]
    fn course_is_course_with_45_minutes_and_two_lessons() {
        assert_eq!(course(3), course_with(3, 45, 2));
        assert_eq!(course(3)["id"], "demo-electrician-3h");
    }

    #[test]
    fn real_media_hashes_replace_descriptors() {
        let mut v = course_with(1, 2, 2);
        let h = Hash::of(b"video bytes");
        assert!(set_media_sha256(&mut v, "h01-b", &h));
        assert!(!set_media_sha256(&mut v, "h09-z", &h));
        assert_eq!(v["lessons"][1]["media"]["sha256"], h.to_hex());
        assert_ne!(v["lessons"][0]["media"]["sha256"], h.to_hex());
        Course::parse(std::path::Path::new("demo.json"), &v.to_string()).unwrap();
    }
}
