//! The demo course: a valid manifest anyone can generate to try `keshi simulate`.
//!
//! Each class hour is two lessons of 22.5 minutes, so lesson durations add up to
//! exactly N class hours of 45 minutes (R-ST-5), and each class hour has a bank of five
//! real questions on low-voltage electrical safety (低压电工作业), enough for every
//! profile (R-AS-1). The bank has exactly as many questions as a quiz shows, so a
//! quiz presents them in bank order and timelines can answer them.
//!
//! The lessons' media files are not rendered here. Each `sha256` is the SHA-256 of the
//! lesson's media descriptor (`keshi-demo-media:<lesson id>:<seconds>`), not of a
//! video file; the desktop app's demo renders real videos and writes their hashes.

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

/// Builds the demo manifest for `class_hours` class hours of 45 minutes.
pub fn course(class_hours: u32) -> Value {
    let mut lessons = Vec::new();
    let mut quizzes = Vec::new();
    for h in 1..=class_hours {
        for part in ["a", "b"] {
            let id = format!("h{h:02}-{part}");
            let seconds = 1350;
            let descriptor = format!("keshi-demo-media:{id}:{seconds}");
            lessons.push(json!({
                "id": id,
                "title": format!("第{h}课时（{}）安全用电基础 / Class hour {h} ({part}): electrical safety basics",
                    if part == "a" { "上" } else { "下" }),
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
    json!({
        "schema": crate::manifest::SCHEMA,
        "id": format!("demo-electrician-{class_hours}h"),
        "title": "低压电工作业（演示课程）/ Low-voltage electrician (demo course)",
        "occupation": "电工",
        "level": "junior",
        "lessons": lessons,
        "quizzes": quizzes,
    })
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
}
