// Typed calls into the shell. Types come from the generated bindings (ts-rs).
import { invoke } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import type { AppInfo } from "./bindings/AppInfo";
import type { Account } from "./bindings/Account";
import type { CameraStatus } from "./bindings/CameraStatus";
import type { Challenge } from "./bindings/Challenge";
import type { CaptureView } from "./bindings/CaptureView";
import type { CourseSummary } from "./bindings/CourseSummary";
import type { OpenedCourse } from "./bindings/OpenedCourse";
import type { Report } from "./bindings/Report";
import type { StudyView } from "./bindings/StudyView";
import type { SyncView } from "./bindings/SyncView";
import type { ProofView } from "./bindings/ProofView";
import type { CaptureEvent } from "./bindings/CaptureEvent";
import type { PlatformCourse } from "./bindings/PlatformCourse";
import type { DownloadView } from "./bindings/DownloadView";

export const api = {
  appInfo: () => invoke<AppInfo>("app_info"),
  signIn: (user: string, password: string) => invoke<Account>("sign_in", { user, password }),
  signOut: () => invoke<void>("sign_out"),
  setFirstPassword: (user: string, idNumber: string, phone: string, password: string) =>
    invoke<Account>("set_first_password", { user, idNumber, phone, password }),
  cameraStatus: () => invoke<CameraStatus>("camera_status"),
  cameraPreview: () => invoke<string>("camera_preview"),
  livenessStart: () => invoke<Challenge>("liveness_start"),
  livenessCheck: () => invoke<CaptureView>("liveness_check"),
  courses: () => invoke<CourseSummary[]>("courses"),
  courseOpen: (courseId: string) => invoke<OpenedCourse>("course_open", { courseId }),
  report: (report: Report) => invoke<StudyView>("player_report", { report }),
  quizSubmit: (answers: number[]) => invoke<StudyView>("quiz_submit", { answers }),
  courseClose: () => invoke<void>("course_close"),
  syncNow: () => invoke<SyncView>("sync_now"),
  syncStatus: () => invoke<SyncView>("sync_status"),
  learningProof: (courseId: string) => invoke<ProofView>("learning_proof", { courseId }),
  platformCourses: () => invoke<PlatformCourse[]>("platform_courses"),
  courseFetch: (courseId: string) => invoke<void>("course_fetch", { courseId }),
};

export const events = {
  study: (f: (v: StudyView) => void): Promise<UnlistenFn> =>
    listen<StudyView>("study", (e) => f(e.payload)),
  sync: (f: (v: SyncView) => void): Promise<UnlistenFn> =>
    listen<SyncView>("sync", (e) => f(e.payload)),
  capture: (f: (v: CaptureEvent) => void): Promise<UnlistenFn> =>
    listen<CaptureEvent>("capture", (e) => f(e.payload)),
  signedOut: (f: (why: string) => void): Promise<UnlistenFn> =>
    listen<string>("signed_out", (e) => f(e.payload)),
  verified: (f: (ok: boolean) => void): Promise<UnlistenFn> =>
    listen<boolean>("verified", (e) => f(e.payload)),
  download: (f: (v: DownloadView) => void): Promise<UnlistenFn> =>
    listen<DownloadView>("download", (e) => f(e.payload)),
};
