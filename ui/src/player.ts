// The player screen. The video element has no native controls: play/pause, volume
// and full screen are ours; the progress bar shows the watched frontier and allows
// going back only; there is no speed control. Every event is *reported* to the
// core, which answers with what must happen (snap back, rate 1.0, pause, a quiz,
// a capture); time counted is what the core says.
import { api, events } from "./api";
import { h, on, clear } from "./dom";
import { t, currentLang, errorText, fmtDuration, reasonText } from "./i18n";
import type { OpenedCourse } from "./bindings/OpenedCourse";
import type { StudyView } from "./bindings/StudyView";
import type { Report } from "./bindings/Report";
import type { PlayerCommand } from "./bindings/PlayerCommand";
import type { LessonView } from "./bindings/LessonView";

const REPORT_EVERY_MS = 1000;
const ACTIVITY_EVERY_MS = 5000;

export async function showPlayer(
  main: HTMLElement,
  opened: OpenedCourse,
  back: () => void,
): Promise<() => Promise<void>> {
  const lessons = opened.lessons;
  const total = lessons.reduce((a, l) => a + Number(l.durationMs), 0);
  let lessonIx = -1;
  let view: StudyView = opened.view;
  let lastReport = 0;
  let lastActivity = 0;
  let closed = false;
  const blobUrls: string[] = [];

  // ---- layout ---------------------------------------------------------------
  const video = h("video", { id: "video", preload: "auto", playsinline: true, disablepictureinpicture: true, controlslist: "nodownload noplaybackrate" }) as HTMLVideoElement;
  const stage = h("div", { class: "stage", id: "stage" }, video);
  const playBtn = h("button", { class: "ctl", id: "play", title: t("player.play") }, "▶");
  const volume = h("input", { type: "range", min: 0, max: 1, step: 0.05, value: 1, id: "volume", title: t("player.volume") }) as HTMLInputElement;
  const fsBtn = h("button", { class: "ctl wide", id: "fullscreen", title: t("player.fullscreen") }, t("player.fullscreen"));
  const watched = h("div", { class: "watched", id: "watched" });
  const played = h("div", { class: "played", id: "played" });
  const bar = h("div", { class: "seekbar", id: "seekbar", role: "slider", "aria-label": "progress" }, watched, played);
  const time = h("span", { class: "time", id: "time" }, "00:00");
  const notice = h("div", { class: "notice", id: "notice", role: "status" });
  const controls = h("div", { class: "controls" }, playBtn, bar, time, volume, fsBtn);
  const status = h("div", { class: "status", id: "counting" });
  const sessionCounted = h("strong", { id: "session-counted" }, "00:00");
  const totalCounted = h("strong", { id: "total-counted" }, "00:00");
  const hourLabel = h("div", { class: "muted small", id: "hour-label" });
  const hourFill = h("div", { class: "fill" });
  const hoursDone = h("div", { id: "hours-done" });
  const violations = h("ol", { class: "violations", id: "violations" });
  const lessonList = h("ol", { class: "lessons" }, ...lessons.map((l, i) => h("li", { "data-lesson": i }, l.title)));
  const overlay = h("div", { class: "overlay hidden", id: "overlay" });
  const side = h(
    "aside",
    { class: "side" },
    status,
    h("div", { class: "counted" }, h("span", {}, t("player.sessionCounted")), sessionCounted, h("span", {}, t("player.totalCounted")), totalCounted),
    hourLabel,
    h("div", { class: "bar" }, hourFill),
    hoursDone,
    h("h3", {}, t("player.notCountedTitle")),
    violations,
    h("h3", {}, t("player.lessons")),
    lessonList,
  );
  const backBtn = on(h("button", { class: "link", id: "player-back" }, `← ${t("player.back")}`), "click", () => back());
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
      say(errorText(e), true);
    }
  }

  function say(text: string, bad = false): void {
    notice.textContent = text;
    notice.className = bad ? "notice bad" : "notice";
    if (text) setTimeout(() => { if (notice.textContent === text) notice.textContent = ""; }, 5000);
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
      say(errorText(e), true);
    }
  }
  let useBlob = false;

  async function seekCourse(ms: number, play: boolean): Promise<void> {
    const ix = lessonAt(ms);
    await load(ix, ms - Number(lessons[ix].startMs), play);
  }

  let programmatic = false;

  function apply(v: StudyView): void {
    view = v;
    for (const c of v.commands as PlayerCommand[]) {
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
    watched.style.width = `${(100 * Number(v.frontierMs)) / total}%`;
    played.style.width = `${(100 * pos) / total}%`;
    time.textContent = `${fmtDuration(pos)} / ${fmtDuration(total)}`;
    playBtn.textContent = video.paused ? "▶" : "❚❚";
    playBtn.title = video.paused ? t("player.play") : t("player.pause");
    status.className = v.counting ? "status counting" : "status not-counting";
    status.dataset.counting = String(v.counting);
    status.dataset.reason = v.notCounting ?? "";
    status.textContent = v.counting
      ? `● ${t("player.counting")}`
      : `○ ${t("player.notCounting")}${v.notCounting ? `：${reasonText(v.notCounting)}` : ""}`;
    sessionCounted.textContent = fmtDuration(Number(v.sessionCreditedMs));
    sessionCounted.dataset.ms = String(v.sessionCreditedMs);
    totalCounted.textContent = fmtDuration(Number(v.creditedMs));
    totalCounted.dataset.ms = String(v.creditedMs);
    const hourN = Math.min(v.classHoursTotal, v.classHoursDone + 1);
    hourLabel.textContent = `${t("player.hour", { n: hourN })}: ${fmtDuration(Number(v.hourCreditedMs))} / ${fmtDuration(Number(v.classHourMs))}`;
    hourFill.style.width = `${(100 * Number(v.hourCreditedMs)) / Number(v.classHourMs)}%`;
    hoursDone.textContent = t("player.hoursDone", { done: v.classHoursDone, total: v.classHoursTotal });
    hoursDone.dataset.done = String(v.classHoursDone);
    clear(violations);
    if (v.violations.length === 0) violations.append(h("li", { class: "muted" }, t("player.noViolations")));
    for (const x of v.violations.slice().reverse()) {
      violations.append(h("li", { "data-code": x.code }, `${fmtDuration(Number(x.atMs))} ${reasonText(x.code)}`));
    }
    renderOverlay();
    if (v.stopped) say(t("player.stopped"), true);
  }

  // ---- overlays: resume, capture, idle, quiz, end ------------------------------
  let overlayKind = "";
  let resumeShown = Number(opened.resumeMs) > 0;

  function showOverlay(kind: string, ...content: HTMLElement[]): void {
    if (overlayKind === kind) return;
    overlayKind = kind;
    clear(overlay);
    overlay.className = "overlay";
    overlay.dataset.kind = kind;
    overlay.append(h("div", { class: "dialog card" }, ...content));
  }

  function hideOverlay(): void {
    overlayKind = "";
    overlay.className = "overlay hidden";
    overlay.dataset.kind = "";
    clear(overlay);
  }

  function renderOverlay(): void {
    const v = view;
    const cap = v.capture;
    if (resumeShown) {
      showOverlay(
        "resume",
        h("h2", {}, t("player.resumeTitle")),
        h("p", {}, t("player.resumeText", { time: fmtDuration(Number(opened.resumeMs)) })),
        on(h("button", { class: "primary", id: "resume-ok" }, t("player.resumeOk")), "click", async () => {
          resumeShown = false;
          hideOverlay();
          await report({ kind: "activity" });
          await video.play().catch(() => undefined);
        }),
      );
    } else if (cap && cap.state === "failed") {
      showOverlay(
        "capture-failed",
        h("h2", { class: "error" }, t("capture.failedTitle")),
        h("ul", {}, ...cap.result.reasons.map((r) => h("li", { "data-code": r.code }, currentLang() === "en" ? r.en : r.zh))),
        h("p", {}, t("capture.failedHelp")),
        on(h("button", { class: "primary", id: "capture-retry" }, t("capture.retry")), "click", async () => {
          hideOverlay();
          await report({ kind: "retry_capture" });
        }),
      );
    } else if (v.quiz) {
      quizOverlay();
    } else if (v.idlePrompt) {
      showOverlay(
        "idle",
        h("h2", {}, t("idle.title")),
        h("p", {}, t("idle.text")),
        on(h("button", { class: "primary", id: "idle-ok" }, t("idle.ok")), "click", async () => {
          hideOverlay();
          await report({ kind: "activity" });
        }),
      );
    } else if (v.ended) {
      showOverlay("ended", h("h2", {}, t("player.ended")), on(h("button", { class: "primary", id: "ended-back" }, t("player.back")), "click", () => back()));
    } else if (overlayKind && overlayKind !== "quiz-result") {
      hideOverlay();
    }
    // The capture notice is brief and does not block.
    if (cap && cap.state === "taking") stage.dataset.capture = "taking";
    else if (cap && cap.state === "passed") stage.dataset.capture = "passed";
    else delete stage.dataset.capture;
    stage.querySelector(".capture-toast")?.remove();
    if (cap && cap.state !== "failed") {
      stage.append(h("div", { class: `capture-toast ${cap.state}`, id: "capture-toast" }, cap.state === "taking" ? t("capture.taking") : t("capture.passed")));
    }
  }

  function quizOverlay(): void {
    const q = view.quiz!;
    const kind = `quiz-${q.classHour}-${q.attempt}`;
    if (overlayKind === kind) return;
    const form = h("form", { id: "quiz", "data-hour": q.classHour, "data-attempt": q.attempt });
    const prev = view.quizResult;
    q.questions.forEach((qq, i) => {
      form.append(
        h(
          "fieldset",
          { "data-question": qq.id },
          h("legend", {}, `${i + 1}. ${qq.text}`),
          ...qq.options.map((o, j) =>
            h("label", { class: "option" }, h("input", { type: "radio", name: `q${i}`, value: j, "data-option": j }), ` ${String.fromCharCode(65 + j)}. ${o}`),
          ),
        ),
      );
    });
    const msg = h("p", { class: "error", id: "quiz-error" });
    form.append(h("button", { class: "primary", type: "submit", id: "quiz-submit" }, t("quiz.submit")), msg);
    on(form, "submit", async (e) => {
      e.preventDefault();
      const answers: number[] = [];
      for (let i = 0; i < q.questions.length; i++) {
        const sel = form.querySelector<HTMLInputElement>(`input[name=q${i}]:checked`);
        if (!sel) {
          msg.textContent = t("quiz.unanswered");
          return;
        }
        answers.push(Number(sel.value));
      }
      try {
        const v = await api.quizSubmit(answers);
        const r = v.quizResult;
        hideOverlay();
        apply(v);
        if (r && !v.quiz) {
          showOverlay(
            "quiz-result",
            h("h2", { id: "quiz-result", "data-passed": String(r.passed) }, r.passed ? t("quiz.passed", { correct: r.correct, total: r.total }) : t("quiz.failed", { correct: r.correct, total: r.total })),
            on(h("button", { class: "primary", id: "quiz-result-ok" }, "OK"), "click", () => {
              hideOverlay();
              render();
            }),
          );
        }
      } catch (err) {
        msg.textContent = errorText(err);
      }
    });
    showOverlay(
      kind,
      h("h2", {}, t("quiz.title", { n: q.classHour, attempt: q.attempt })),
      h("p", { class: "muted" }, t("quiz.intro", { count: q.questions.length, percent: Math.round(q.passRatio * 100) })),
      prev && !prev.passed && prev.classHour === q.classHour ? h("p", { class: "error", id: "quiz-result", "data-passed": "false" }, t("quiz.failed", { correct: prev.correct, total: prev.total })) : h("span"),
      form,
    );
  }

  // ---- events ---------------------------------------------------------------
  on(playBtn, "click", () => {
    if (video.paused) video.play().catch(() => undefined);
    else video.pause();
  });
  on(volume, "input", () => { video.volume = Number(volume.value); });
  on(fsBtn, "click", () => {
    if (document.fullscreenElement) document.exitFullscreen().catch(() => undefined);
    else stage.requestFullscreen().catch(() => undefined);
  });
  on(bar, "click", (e) => {
    const rect = bar.getBoundingClientRect();
    const to = Math.round((total * (e.clientX - rect.left)) / rect.width);
    if (to > Number(view.frontierMs)) say(t("player.noSeekAhead"), true);
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
  const unlisten = await events.study((v) => { if (!closed && v.courseId === opened.course.id) apply(v); });

  await seekCourse(Number(opened.resumeMs), false);
  apply(view);

  return async () => {
    closed = true;
    unlisten();
    video.pause();
    activityEvents.forEach((n) => window.removeEventListener(n, activity));
    document.removeEventListener("visibilitychange", visibility);
    video.removeAttribute("src");
    video.load();
    blobUrls.forEach((u) => URL.revokeObjectURL(u));
    await api.courseClose().catch(() => undefined);
  };
}
