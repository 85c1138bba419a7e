//! The JSON shape of a manifest. Structural errors (a missing or unknown field, a
//! wrong type) are reported at their JSON path, in the same words as value errors.

use std::path::Path;

use serde::Deserialize;

use super::ManifestError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCourse {
    pub schema: String,
    pub id: String,
    pub title: String,
    pub occupation: String,
    pub level: String,
    pub lessons: Vec<RawLesson>,
    pub quizzes: Vec<RawBank>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLesson {
    pub id: String,
    pub title: String,
    pub media: RawMedia,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMedia {
    pub path: Option<String>,
    pub url: Option<String>,
    pub duration_seconds: u64,
    pub sha256: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBank {
    pub class_hour: u64,
    pub questions: Vec<RawQuestion>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawQuestion {
    pub id: String,
    pub text: String,
    pub options: Vec<String>,
    #[serde(default)]
    pub answer: Option<u64>,
}

/// Parses `text`, reporting syntax errors with line and column and shape errors at
/// their field's path.
pub(super) fn parse(file: &Path, text: &str) -> Result<RawCourse, ManifestError> {
    // Syntax first, so a broken file says where it breaks.
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| ManifestError::Syntax {
            file: file.to_path_buf(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
    if !value.is_object() {
        return Err(ManifestError::Field {
            file: file.to_path_buf(),
            field: "(root)".into(),
            reason: format!("must be an object, found {}", kind(&value)),
        });
    }
    serde_path_to_error::deserialize::<_, RawCourse>(value).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        let (field, reason) = explain(&path, &e.inner().to_string());
        ManifestError::Field {
            file: file.to_path_buf(),
            field,
            reason,
        }
    })
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

fn kind(v: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// serde's message at `path` in the manifest's words: `(field, reason)`.
fn explain(path: &str, msg: &str) -> (String, String) {
    let quoted = |s: &str| -> Option<String> {
        let start = s.find('`')? + 1;
        let end = start + s[start..].find('`')?;
        Some(s[start..end].to_owned())
    };
    if let Some(rest) = msg.strip_prefix("missing field ") {
        let name = quoted(rest).unwrap_or_default();
        return (join(path, &name), "is missing".into());
    }
    if let Some(rest) = msg.strip_prefix("unknown field ") {
        let name = quoted(rest).unwrap_or_default();
        let allowed: Vec<String> = rest
            .split("expected ")
            .nth(1)
            .map(|s| {
                s.trim_start_matches("one of ")
                    .split(", ")
                    .map(|x| x.trim_matches('`').to_owned())
                    .collect()
            })
            .unwrap_or_default();
        // serde_path_to_error reports an unknown key at its own path.
        let field = if path.ends_with(&name) {
            path.to_owned()
        } else {
            join(path, &name)
        };
        return (
            field,
            format!("unknown field (allowed: {})", allowed.join(", ")),
        );
    }
    if let Some(rest) = msg.strip_prefix("invalid type: ") {
        let (found, expected) = rest.split_once(", expected ").unwrap_or((rest, ""));
        let want = match expected {
            e if e.contains("sequence") => "must be an array".to_owned(),
            e if e.contains("struct") || e.contains("map") => "must be an object".to_owned(),
            e if e.contains("u64") || e.contains("integer") => {
                "must be a whole number >= 0".to_owned()
            }
            e if e.contains("string") => "must be a string".to_owned(),
            e => format!("must be {e}"),
        };
        let found = found
            .replace("floating point ", "")
            .replace("integer ", "")
            .replace('`', "");
        return (path.to_owned(), format!("{want}, found {found}"));
    }
    if msg.starts_with("invalid value: integer") {
        return (
            path.to_owned(),
            format!(
                "must be a whole number >= 0, found {}",
                msg.trim_start_matches("invalid value: integer ")
                    .split(',')
                    .next()
                    .unwrap_or("")
                    .trim_matches('`')
            ),
        );
    }
    (path.to_owned(), msg.to_owned())
}
