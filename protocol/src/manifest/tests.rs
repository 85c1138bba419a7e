//! Manifest validation: every field checked and named.

use super::*;
use serde_json::Value;

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

/// A learner's copy carries no answer keys (issue 11): it parses, grades nothing
/// right, and serialises without `answer`; the platform's copy grades by its keys.
#[test]
fn the_learners_copy_has_no_answer_keys_and_the_platforms_grades() {
    let policy = Policy::by_id("shanxi").unwrap();
    let keyed = Course::parse(Path::new("c.json"), &demo().to_string()).unwrap();
    assert!(keyed.missing_answer().is_none());
    let ids: Vec<String> = keyed.quizzes[0]
        .questions
        .iter()
        .map(|q| q.id.clone())
        .collect();
    let right: Vec<crate::fact::Answer> = crate::demo::answers(1)
        .into_iter()
        .map(crate::fact::Answer::Index)
        .collect();
    let g = keyed.grade(&policy, 1, &ids, &right);
    assert_eq!((g.correct, g.total, g.passed), (5, 5, true));
    // A question asked twice, or one of another hour, counts as wrong.
    let twice = vec![ids[0].clone(); 5];
    let same = vec![right[0].clone(); 5];
    assert_eq!(keyed.grade(&policy, 1, &twice, &same).correct, 1);
    assert_eq!(keyed.grade(&policy, 2, &ids, &right).correct, 0);

    let copy = keyed.without_answers();
    assert!(copy.missing_answer().is_some());
    let text = serde_json::to_string(&copy).unwrap();
    assert!(!text.contains("\"answer\""), "{text}");
    assert_eq!(copy.grade(&policy, 1, &ids, &right).correct, 0);
    // A manifest written without keys parses as such.
    let mut v = demo();
    for q in v["quizzes"][0]["questions"].as_array_mut().unwrap() {
        q.as_object_mut().unwrap().remove("answer");
    }
    let parsed = Course::parse(Path::new("c.json"), &v.to_string()).unwrap();
    assert_eq!(parsed.quizzes, copy.quizzes);
}
