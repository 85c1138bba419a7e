//! The course store: one directory per course, each with a `course.json` manifest
//! (`keshi-course/1`) and its media. Media is found by lesson id through the manifest,
//! never by a path taken from a URL, so nothing outside the store can be named.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::manifest::{Course, MediaSource};
use crate::study::codes::{AppCode, AppError, AppResult};

/// Loaded courses by id.
#[derive(Debug, Default)]
pub struct CourseStore {
    courses: BTreeMap<String, Course>,
    /// Manifests that did not load, with why (shown in the log, never fatal).
    pub rejected: Vec<(PathBuf, String)>,
}

impl CourseStore {
    /// Loads every `*/course.json` under `root` (a missing root is an empty store).
    pub fn load(root: &Path) -> CourseStore {
        let mut store = CourseStore::default();
        let Ok(entries) = std::fs::read_dir(root) else {
            return store;
        };
        let mut dirs: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        dirs.sort();
        for dir in dirs {
            let manifest = dir.join("course.json");
            if !manifest.is_file() {
                continue;
            }
            match Course::load(&manifest) {
                Ok(c) => {
                    if c.missing_answer().is_none() && !c.quizzes.is_empty() {
                        tracing::warn!(manifest = %manifest.display(), "the course carries answer keys; the app never reads them (the platform grades)");
                    }
                    let c = c.without_answers();
                    store.courses.insert(c.id.clone(), c);
                }
                Err(e) => {
                    tracing::warn!(manifest = %manifest.display(), error = %e, "course not loaded");
                    store.rejected.push((manifest, e.to_string()));
                }
            }
        }
        store
    }

    /// A store of these courses (tests, and a course just fetched).
    pub fn from_courses(courses: impl IntoIterator<Item = Course>) -> CourseStore {
        CourseStore {
            courses: courses.into_iter().map(|c| (c.id.clone(), c)).collect(),
            rejected: Vec::new(),
        }
    }

    /// Courses in id order.
    pub fn iter(&self) -> impl Iterator<Item = &Course> {
        self.courses.values()
    }

    /// One course.
    pub fn get(&self, id: &str) -> AppResult<&Course> {
        self.courses
            .get(id)
            .ok_or_else(|| AppError::new(AppCode::CourseNotFound, format!("no course {id:?}")))
    }

    /// The media file of `lesson_id` in `course_id`: resolved from the manifest, and
    /// refused unless it lies inside the course's own directory after resolving links.
    pub fn media_file(&self, course_id: &str, lesson_id: &str) -> AppResult<PathBuf> {
        let course = self.get(course_id)?;
        let lesson = course
            .lessons
            .iter()
            .find(|l| l.id == lesson_id)
            .ok_or_else(|| {
                AppError::new(AppCode::MediaNotFound, format!("no lesson {lesson_id:?}"))
            })?;
        let dir = course
            .origin
            .parent()
            .ok_or_else(|| AppError::new(AppCode::MediaNotFound, "course has no directory"))?;
        let MediaSource::Path(rel) = &lesson.media.source else {
            return Err(AppError::new(
                AppCode::MediaNotFound,
                format!("lesson {lesson_id:?} is not a local file"),
            ));
        };
        let dir = dir
            .canonicalize()
            .map_err(|e| AppError::new(AppCode::MediaNotFound, e.to_string()))?;
        let path = dir
            .join(rel)
            .canonicalize()
            .map_err(|e| AppError::new(AppCode::MediaNotFound, format!("{rel}: {e}")))?;
        if !path.starts_with(&dir) {
            return Err(AppError::new(
                AppCode::MediaOutsideStore,
                format!("{rel} leaves the course directory"),
            ));
        }
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store with the 1-class-hour demo course whose lesson files are `make`'s.
    fn store_with(make: impl Fn(&Path, &str)) -> (tempfile::TempDir, CourseStore) {
        let dir = tempfile::tempdir().unwrap();
        let course_dir = dir.path().join("demo");
        std::fs::create_dir_all(course_dir.join("media")).unwrap();
        let manifest = crate::demo::course(1);
        for l in manifest["lessons"].as_array().unwrap() {
            make(&course_dir, l["media"]["path"].as_str().unwrap());
        }
        std::fs::write(
            course_dir.join("course.json"),
            serde_json::to_string(&manifest).unwrap(),
        )
        .unwrap();
        let store = CourseStore::load(dir.path());
        (dir, store)
    }

    #[test]
    fn media_is_found_by_lesson_id_inside_its_course() {
        let (_d, store) = store_with(|dir, rel| std::fs::write(dir.join(rel), b"mp4").unwrap());
        let course = store.iter().next().unwrap().id.clone();
        let f = store.media_file(&course, "h01-a").unwrap();
        assert!(f.ends_with("media/h01-a.mp4"));
        assert_eq!(
            store.media_file(&course, "nope").unwrap_err().code,
            AppCode::MediaNotFound.into()
        );
        assert_eq!(
            store.media_file("other", "h01-a").unwrap_err().code,
            AppCode::CourseNotFound.into()
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_lesson_file_linking_out_of_the_store_is_refused() {
        let outside = tempfile::NamedTempFile::new().unwrap();
        let target = outside.path().to_owned();
        let (_d, store) = store_with(|dir, rel| {
            std::os::unix::fs::symlink(&target, dir.join(rel)).unwrap();
        });
        let course = store.iter().next().unwrap().id.clone();
        assert_eq!(
            store.media_file(&course, "h01-a").unwrap_err().code,
            AppCode::MediaOutsideStore.into()
        );
    }

    #[test]
    fn a_manifest_naming_a_path_outside_its_folder_is_not_loaded() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("bad")).unwrap();
        let mut manifest = crate::demo::course(1);
        manifest["lessons"][0]["media"]["path"] = "../../etc/passwd".into();
        std::fs::write(
            dir.path().join("bad/course.json"),
            serde_json::to_string(&manifest).unwrap(),
        )
        .unwrap();
        let store = CourseStore::load(dir.path());
        assert_eq!(store.iter().count(), 0);
        assert_eq!(store.rejected.len(), 1);
    }
}
