// The player screen. The video element has no native controls: play/pause, volume
// and full screen are ours; the progress bar shows the watched frontier and allows
// going back only; there is no speed control. Every event is *reported* to the
// core, which answers with what must happen (snap back, rate 1.0, pause, a quiz,
// a capture); time counted is what the core says.
//
// A language switch re-labels the screen in place: the video, the session and any
// open dialog stay as they are.
import { api, events } from "../api";
import { h, on, fill } from "../dom";
import { L, T, bindAttr, bindText, captureStateText, codeText, errorText, fmtDuration, fmtTime, reasonText, t } from "../i18n";
import type { Nav, Screen } from "../route";
import type { OpenedCourse } from "../bindings/OpenedCourse";
import type { StudyView } from "../bindings/StudyView";
import type { Report } from "../bindings/Report";
import type { LessonView } from "../bindings/LessonView";
import { progressBar, setProgress } from "../widgets";

const REPORT_EVERY_MS = 1000;
const ACTIVITY_EVERY_MS = 5000;
const NOTICE_MS = 5000;

export async function showPlayer(main: HTMLElement, courseId: string, nav: Nav): Promise<Screen> {
  const opened = await api.courseOpen(courseId);
  try {
    return await mountPlayer(main, opened, () => nav.go({ screen: "courses" }));
  } catch (e) {
    await api.courseClose().catch(() => undefined);
    throw e;
  }
}

async function mountPlayer(main: HTMLElement, opened: OpenedCourse, back: () => void): Promise<Screen> {
  const lessons = opened.lessons;
  const total = lessons.reduce((a, l) => a + Number(l.durationMs), 0);
  let lessonIx = -1;
  let view: StudyView = opened.view;
  let lastReport = 0;
  let lastActivity = 0;
  let closed = false;
  const blobUrls: string[] = [];

  // ---- layout ---------------------------------------------------------------
  const video = h("video", { id: "video", preload: "auto", playsinline: true, disablepictureinpicture: true, controlslist: "nodownload noplaybackrate" });
  const stage = h("div", { class: "stage", id: "stage" }, video);
  const playBtn = h("button", { class: "ctl", id: "play" }, "▶");
  const volume = h("input", { type: "range", min: 0, max: 1, step: 0.05, value: 1, id: "volume" });
  bindAttr(volume, "title", () => t("player.volume"));
  bindAttr(volume, "aria-label", () => t("player.volume"));
  const fsBtn = h("button", { class: "ctl wide", id: "fullscreen" }, T("player.fullscreen"));
  const watched = h("div", { class: "watched", id: "watched" });
  const played = h("div", { class: "played", id: "played" });
  const bar = h("div", { class: "seekbar", id: "seekbar", role: "slider", "aria-valuemin": 0, "aria-valuemax": total }, h("div", { class: "track" }, watched, played));
  bindAttr(bar, "aria-label", () => t("player.progress"));
  const time = h("span", { class: "time", id: "time" }, "00:00");
  const notice = h("div", { class: "notice", id: "notice", role: "status" });
  const controls = h("div", { class: "controls" }, playBtn, bar, time, volume, fsBtn);
  const status = h("div", { class: "status", id: "counting" });
  const sessionCounted = h("strong", { id: "session-counted" }, "00:00");
  const totalCounted = h("strong", { id: "total-counted" }, "00:00");
  const hourLabel = h("div", { class: "muted small", id: "hour-label" });
  const hourBar = progressBar(0, 1, "player.hourProgress", { id: "hour-progress" });
  const hoursDone = h("div", { id: "hours-done" });
  // A round of failed quiz attempts pauses the quiz (R-AS-1); study goes on.
  const cooldown = h("p", { class: "notice small", id: "quiz-cooldown", role: "status" });
  const violations = h("ol", { class: "violations", id: "violations" });
  const noViolations = h("p", { class: "muted small", id: "no-violations" }, T("player.noViolations"));
  const lessonList = h("ol", { class: "lessons" }, ...lessons.map((l, i) => h("li", { "data-lesson": i }, l.title)));
  const overlay = h("div", { class: "overlay hidden", id: "overlay" });
  const side = h(
    "aside",
    { class: "side" },
    status,
    h("div", { class: "counted" }, T("player.sessionCounted"), sessionCounted, T("player.totalCounted"), totalCounted),
    hourLabel,
    hourBar,
    hoursDone,
    cooldown,
    h("h3", {}, T("player.notCountedTitle")),
    noViolations,
    violations,
    h("h3", {}, T("player.lessons")),
    lessonList,
  );
  const backBtn = on(h("button", { class: "link", id: "player-back" }, "← ", T("player.back")), "click", () => back());
  main.append(
    h("div", { class: "player-head" }, backBtn, h("h1", {}, opened.course.title)),
    h("div", { class: "player" }, h("div", { class: "left" }, stage, controls, notice), side),
    overlay,
  );

  // ---- reporting ------------------------------------------------------------
  const coursePos = () => (lessonIx >= 0 ? Number(lessons[lessonIx].startMs) + Math.round(video.currentTime * 1000) : 0);

  async function report(r: Report): Promise<void> {
    if (closed) return;
    try {
      apply(await api.report(r));
    } catch (e) {
      say(() => errorText(e), true);
    }
  }

  let noticeTimer: ReturnType<typeof setTimeout> | undefined;
  /** A brief notice under the video (kept in the current language while shown). */
  function say(text: () => string, bad = false): void {
    bindText(notice, text);
    notice.className = bad ? "notice bad" : "notice";
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => bindText(notice, () => ""), NOTICE_MS);
  }

  // ---- media ----------------------------------------------------------------
  function lessonAt(ms: number): number {
    for (let i = lessons.length - 1; i >= 0; i--) if (ms >= Number(lessons[i].startMs)) return i;
    return 0;
  }

  async function load(ix: number, offsetMs: number, play: boolean): Promise<void> {
    const l: LessonView = lessons[ix];
    if (ix !== lessonIx) {
      lessonIx = ix;
      lessonList.querySelectorAll("li").forEach((li, i) => li.classList.toggle("current", i === ix));
      await setSource(l.url);
    }
    programmatic = true;
    video.currentTime = Math.max(0, offsetMs) / 1000;
    if (play) await video.play().catch(() => undefined);
  }

  // The lesson streams from the course-media protocol. Where the web view cannot
  // play media from a custom scheme (WebKitGTK, WebKit bug 146351) the same URL is
  // fetched and played from a Blob.
  function waitMeta(): Promise<boolean> {
    return new Promise((resolve) => {
      const done = (ok: boolean) => {
        video.removeEventListener("loadedmetadata", yes);
        video.removeEventListener("error", no);
        clearTimeout(timer);
        resolve(ok);
      };
      const yes = () => done(true);
      const no = () => done(false);
      const timer = setTimeout(() => done(video.readyState >= 1), 8000);
      video.addEventListener("loadedmetadata", yes);
      video.addEventListener("error", no);
    });
  }

  let useBlob = false;
  async function setSource(url: string): Promise<void> {
    if (!useBlob) {
      video.src = url;
      if (await waitMeta()) return;
      useBlob = true;
    }
    try {
      const r = await fetch(url);
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      const u = URL.createObjectURL(await r.blob());
      blobUrls.push(u);
      video.src = u;
      await waitMeta();
    } catch (e) {
      say(() => errorText(e), true);
    }
  }

  async function seekCourse(ms: number, play: boolean): Promise<void> {
    const ix = lessonAt(ms);
    await load(ix, ms - Number(lessons[ix].startMs), play);
  }

  let programmatic = false;

  function apply(v: StudyView): void {
    view = v;
    for (const c of v.commands) {
      if (c.do === "set_position") {
        seekCourse(Number(c.posMs), !video.paused);
      } else if (c.do === "set_rate") {
        video.playbackRate = c.rate;
        video.defaultPlaybackRate = c.rate;
      } else if (c.do === "pause") {
        video.pause();
      }
    }
    render();
  }

  function render(): void {
    const v = view;
    const pos = lessonIx >= 0 ? coursePos() : Number(v.positionMs);
    // Sizes through the CSSOM (the CSP blocks style attributes, not this).
    watched.style.width = `${(100 * Number(v.frontierMs)) / total}%`;
    played.style.width = `${(100 * pos) / total}%`;
    bar.setAttribute("aria-valuenow", String(pos));
    time.textContent = t("player.time", { pos: fmtDuration(pos), total: fmtDuration(total) });
    playBtn.textContent = video.paused ? "▶" : "❚❚";
    playBtn.title = t(video.paused ? "player.play" : "player.pause");
    playBtn.setAttribute("aria-label", playBtn.title);
    status.className = v.counting ? "status counting" : "status not-counting";
    status.dataset.counting = String(v.counting);
    status.dataset.reason = v.notCounting ?? "";
    status.textContent = v.counting
      ? t("player.counting")
      : v.notCounting
        ? t("player.notCountingWhy", { reason: reasonText(v.notCounting) })
        : t("player.notCounting");
    sessionCounted.textContent = fmtDuration(Number(v.sessionCreditedMs));
    sessionCounted.dataset.ms = String(v.sessionCreditedMs);
    totalCounted.textContent = fmtDuration(Number(v.creditedMs));
    totalCounted.dataset.ms = String(v.creditedMs);
    const hourN = Math.min(v.classHoursTotal, v.classHoursDone + 1);
    hourLabel.textContent = t("player.hour", { n: hourN, credited: fmtDuration(Number(v.hourCreditedMs)), length: fmtDuration(Number(v.classHourMs)) });
    setProgress(hourBar, Number(v.hourCreditedMs), Number(v.classHourMs));
    hoursDone.textContent = t("player.hoursDone", { done: v.classHoursDone, total: v.classHoursTotal });
    hoursDone.dataset.done = String(v.classHoursDone);
    const cd = v.quizCooldown;
    cooldown.hidden = !cd;
    cooldown.dataset.hour = cd ? String(cd.classHour) : "";
    cooldown.textContent = cd ? t("quiz.cooldown", { n: cd.classHour, time: fmtTime(Number(cd.untilMs)) }) : "";
    noViolations.hidden = v.violations.length > 0;
    fill(
      violations,
      ...v.violations
        .slice()
        .reverse()
        .map((x) => h("li", { "data-code": x.code }, t("player.violation", { time: fmtDuration(Number(x.atMs)), reason: reasonText(x.code) }))),
    );
    renderOverlay();
    if (v.stopped) {
      const why = v.stopped;
      say(() => t("player.stopped", { why: codeText(why) }), true);
    }
  }

  // ---- overlays: resume, capture, idle, quiz, end ------------------------------
  // The grade of an attempt comes from the platform (the app holds no answer keys):
  // after answering, "awaiting grading" until a sync brings the signed grade.
  let awaitingShown = false;
  let shownResult = resultKey(view);
  let overlayKind = "";
  let resumeShown = Number(opened.resumeMs) > 0;

  function showOverlay(kind: string, ...content: HTMLElement[]): void {
    if (overlayKind === kind) return;
    overlayKind = kind;
    overlay.className = "overlay";
    overlay.dataset.kind = kind;
    fill(overlay, h("div", { class: "dialog card", role: "dialog", "aria-modal": "true" }, ...content));
  }

  function hideOverlay(): void {
    overlayKind = "";
    overlay.className = "overlay hidden";
    overlay.dataset.kind = "";
    fill(overlay);
  }

  function renderOverlay(): void {
    const v = view;
    const cap = v.capture;
    if (resumeShown) {
      showOverlay(
        "resume",
        h("h2", {}, T("player.resumeTitle")),
        h("p", {}, T("player.resumeText", { time: fmtDuration(Number(opened.resumeMs)) })),
        on(h("button", { class: "primary", id: "resume-ok" }, T("player.resumeOk")), "click", async () => {
          resumeShown = false;
          hideOverlay();
          await report({ kind: "activity" });
          await video.play().catch(() => undefined);
        }),
      );
    } else if (cap && cap.state === "failed") {
      showOverlay(
        "capture-failed",
        h("h2", { class: "error" }, T("capture.failedTitle")),
        h("ul", {}, ...cap.result.reasons.map((r) => h("li", { "data-code": r.code }, L(r.zh, r.en)))),
        h("p", {}, T("capture.failedHelp")),
        on(h("button", { class: "primary", id: "capture-retry" }, T("capture.retry")), "click", async () => {
          hideOverlay();
          await report({ kind: "retry_capture" });
        }),
        // A blocking dialog always has a way out: the course keeps its place.
        on(h("button", { class: "link", type: "button", id: "capture-leave" }, T("player.back")), "click", () => back()),
      );
    } else if (v.quiz) {
      quizOverlay();
    } else if (v.quizResult && resultKey(v) !== shownResult) {
      // The platform's grade arrived (sync): its result, once.
      showResult(v);
    } else if (v.quizAwaiting.length > 0 && awaitingShown && overlayKind !== "quiz-result") {
      showOverlay(
        "quiz-awaiting",
        h("h2", { id: "quiz-awaiting", "data-hours": v.quizAwaiting.join(",") }, T("quiz.awaitingTitle")),
        h("p", {}, T("quiz.awaitingText")),
        on(h("button", { class: "primary", id: "quiz-awaiting-ok" }, T("quiz.resultOk")), "click", () => {
          awaitingShown = false;
          hideOverlay();
          render();
        }),
      );
    } else if (v.idlePrompt) {
      showOverlay(
        "idle",
        h("h2", {}, T("idle.title")),
        h("p", {}, T("idle.text")),
        on(h("button", { class: "primary", id: "idle-ok" }, T("idle.ok")), "click", async () => {
          hideOverlay();
          await report({ kind: "activity" });
        }),
      );
    } else if (v.ended) {
      const gap = v.firstGapMs;
      if (gap === null || gap === undefined) {
        showOverlay("ended", h("h2", {}, T("player.ended")), on(h("button", { class: "primary", id: "ended-back" }, T("player.back")), "click", () => back()));
      } else {
        // Parts played while not counting (focus lost, idle, a held capture) earn
        // their credit when watched again: say so and offer to go there.
        showOverlay(
          "ended-gap",
          h("h2", {}, T("player.ended")),
          h("p", { id: "ended-gap", "data-gap-ms": String(gap) }, T("player.endedGap", { pos: fmtDuration(Number(gap)) })),
          on(h("button", { class: "primary", id: "ended-rewatch" }, T("player.rewatch")), "click", () => {
            hideOverlay();
            seekCourse(Number(gap), true);
            report({ kind: "seek", toMs: Number(gap) });
          }),
          on(h("button", { id: "ended-back" }, T("player.back")), "click", () => back()),
        );
      }
    } else if (overlayKind && overlayKind !== "quiz-result") {
      hideOverlay();
    }
    // The capture notice is brief and does not block.
    if (cap && cap.state !== "failed") stage.dataset.capture = cap.state;
    else delete stage.dataset.capture;
    stage.querySelector(".capture-toast")?.remove();
    if (cap && cap.state !== "failed") {
      stage.append(h("div", { class: `capture-toast ${cap.state}`, id: "capture-toast", role: "status" }, captureStateText(cap.state)));
    }
  }

  function resultKey(v: StudyView): string {
    const r = v.quizResult;
    return r ? `${r.classHour}:${r.correct}:${r.total}:${r.passed}` : "";
  }

  function showResult(v: StudyView): void {
    const r = v.quizResult;
    if (!r) return;
    shownResult = resultKey(v);
    awaitingShown = false;
    showOverlay(
      "quiz-result",
      h("h2", { id: "quiz-result", "data-passed": String(r.passed) }, T(r.passed ? "quiz.passed" : "quiz.failed", { correct: r.correct, total: r.total })),
      on(h("button", { class: "primary", id: "quiz-result-ok" }, T("quiz.resultOk")), "click", () => {
        hideOverlay();
        render();
      }),
    );
  }

  function quizOverlay(): void {
    const q = view.quiz!;
    const kind = `quiz-${q.classHour}-${q.attempt}`;
    if (overlayKind === kind) return;
    const form = h("form", { id: "quiz", "data-hour": q.classHour, "data-attempt": q.attempt });
    const prev = view.quizResult;
    shownResult = resultKey(view);
    q.questions.forEach((qq, i) => {
      form.append(
        h(
          "fieldset",
          { "data-question": qq.id },
          h("legend", {}, T("quiz.question", { n: i + 1, text: qq.text })),
          ...qq.options.map((o, j) =>
            h(
              "label",
              { class: "option" },
              h("input", { type: "radio", name: `q${i}`, value: j, "data-option": j }),
              T("quiz.option", { letter: String.fromCharCode(65 + j), text: o }),
            ),
          ),
        ),
      );
    });
    const msg = h("p", { class: "error", id: "quiz-error", role: "alert" });
    form.append(h("button", { class: "primary", type: "submit", id: "quiz-submit" }, T("quiz.submit")), msg);
    on(form, "submit", async (e) => {
      e.preventDefault();
      const answers: number[] = [];
      for (let i = 0; i < q.questions.length; i++) {
        const sel = form.querySelector<HTMLInputElement>(`input[name=q${i}]:checked`);
        if (!sel) {
          bindText(msg, () => t("quiz.unanswered"));
          return;
        }
        answers.push(Number(sel.value));
      }
      try {
        const v = await api.quizSubmit(answers);
        awaitingShown = v.quizAwaiting.length > 0;
        hideOverlay();
        apply(v);
      } catch (err) {
        bindText(msg, () => errorText(err));
      }
    });
    showOverlay(
      kind,
      h("h2", {}, T("quiz.title", { n: q.classHour, attempt: q.attempt })),
      h("p", { class: "muted" }, T("quiz.intro", { count: q.questions.length, percent: Math.round(q.passRatio * 100) })),
      prev && !prev.passed && prev.classHour === q.classHour
        ? h("p", { class: "error", id: "quiz-result", "data-passed": "false" }, T("quiz.failed", { correct: prev.correct, total: prev.total }))
        : h("span"),
      form,
      // Leaving does not answer: the quiz is due again when the course is reopened.
      on(h("button", { class: "link", type: "button", id: "quiz-leave" }, T("quiz.later")), "click", () => back()),
    );
  }

  // ---- events ---------------------------------------------------------------
  on(playBtn, "click", () => {
    if (video.paused) video.play().catch(() => undefined);
    else video.pause();
  });
  on(volume, "input", () => {
    video.volume = Number(volume.value);
  });
  on(fsBtn, "click", () => {
    if (document.fullscreenElement) document.exitFullscreen().catch(() => undefined);
    else stage.requestFullscreen().catch(() => undefined);
  });
  on(bar, "click", (e) => {
    const rect = bar.getBoundingClientRect();
    const to = Math.round((total * (e.clientX - rect.left)) / rect.width);
    if (to > Number(view.frontierMs)) say(() => t("player.noSeekAhead"), true);
    else seekCourse(to, !video.paused);
    report({ kind: "seek", toMs: to });
  });
  video.addEventListener("play", () => report({ kind: "play" }));
  video.addEventListener("pause", () => report({ kind: "pause" }));
  video.addEventListener("ratechange", () => report({ kind: "rate", rate: video.playbackRate }));
  video.addEventListener("seeked", () => {
    if (programmatic) {
      programmatic = false;
      return;
    }
    report({ kind: "position", posMs: coursePos() });
  });
  video.addEventListener("timeupdate", () => {
    const now = Date.now();
    render();
    if (now - lastReport >= REPORT_EVERY_MS) {
      lastReport = now;
      report({ kind: "position", posMs: coursePos() });
    }
  });
  video.addEventListener("ended", async () => {
    if (lessonIx + 1 < lessons.length) {
      await report({ kind: "position", posMs: Number(lessons[lessonIx + 1].startMs) });
      await load(lessonIx + 1, 0, true);
    }
  });
  video.addEventListener("contextmenu", (e) => e.preventDefault());
  const activity = (e: Event) => {
    if (!e.isTrusted) return;
    const now = Date.now();
    if (now - lastActivity >= ACTIVITY_EVERY_MS) {
      lastActivity = now;
      report({ kind: "activity" });
    }
  };
  const activityEvents = ["mousemove", "mousedown", "keydown", "wheel", "touchstart"];
  activityEvents.forEach((n) => window.addEventListener(n, activity, { passive: true }));
  const visibility = () => report({ kind: "visibility", visible: document.visibilityState === "visible" });
  document.addEventListener("visibilitychange", visibility);
  const unlisten = await events.study((v) => {
    if (!closed && v.courseId === opened.course.id) apply(v);
  });

  render(); // the side panel and the resume prompt show while the lesson loads
  await seekCourse(Number(opened.resumeMs), false);
  apply(view);

  return {
    relabel: render,
    leave: async () => {
      closed = true;
      unlisten();
      clearTimeout(noticeTimer);
      video.pause();
      activityEvents.forEach((n) => window.removeEventListener(n, activity));
      document.removeEventListener("visibilitychange", visibility);
      video.removeAttribute("src");
      video.load();
      blobUrls.forEach((u) => URL.revokeObjectURL(u));
      await api.courseClose().catch(() => undefined);
    },
  };
}
