// The course list: class hours done against what the level requires (R-AS-3), time
// counted, study / continue, and the learning proof. Below, the courses the learner
// is enrolled in on the platform that this device does not hold yet (issue 12):
// download with a progress bar; a cut download resumes on the next try, and a
// course becomes playable only once every file matched its manifest.
import { api, events } from "../api";
import { h, on } from "../dom";
import { T, bound, fmtDuration, levelText, t } from "../i18n";
import type { Nav, Screen } from "../route";
import type { PlatformCourse } from "../bindings/PlatformCourse";
import { errorLine, progressBar, setProgress } from "../widgets";

/** Bytes as the learner reads them (MB with one decimal). */
function fmtSize(bytes: number): string {
  return t("courses.size", { mb: (bytes / 1048576).toFixed(1) });
}

export async function showCourses(main: HTMLElement, nav: Nav): Promise<Screen> {
  const list = await api.courses();
  main.append(h("h1", {}, T("courses.title")));
  if (list.length === 0) {
    main.append(h("p", { class: "muted", id: "courses-empty" }, T("courses.empty")));
  }
  for (const c of list) {
    const started = Number(c.creditedMs) > 0 || Number(c.positionMs) > 0;
    main.append(
      h(
        "article",
        { class: "card course", "data-course": c.id },
        h("h2", {}, c.title),
        h("p", { class: "muted" }, T("courses.meta", { occupation: c.occupation, level: () => levelText(c.level) })),
        progressBar(c.classHoursDone, c.classHoursRequired, "courses.progress", { class: "bar hours-bar" }),
        h("p", { class: "hours" }, T("courses.hours", { done: c.classHoursDone, required: c.classHoursRequired, total: c.classHoursTotal })),
        h("p", { class: "muted small" }, T("courses.credited", { time: fmtDuration(Number(c.creditedMs)) })),
        h(
          "div",
          { class: "row" },
          on(h("button", { class: "primary study", "data-course": c.id }, T(started ? "courses.continue" : "courses.study")), "click", () =>
            nav.go({ screen: "player", courseId: c.id }),
          ),
          on(h("button", { class: "proof", "data-course": c.id }, T("courses.proof")), "click", () => nav.go({ screen: "proof", courseId: c.id })),
        ),
      ),
    );
  }
  const section = h("section", { id: "platform-courses", "aria-live": "polite" }, h("h2", {}, T("courses.platform")));
  main.append(section);
  let busy = false;
  const unlisten = await events.download((p) => {
    const bar = section.querySelector<HTMLProgressElement>(`article[data-course="${CSS.escape(p.courseId)}"] progress`);
    const line = section.querySelector<HTMLElement>(`article[data-course="${CSS.escape(p.courseId)}"] .download-state`);
    if (bar) setProgress(bar, Number(p.bytesDone), Number(p.bytes));
    if (line) line.textContent = t("courses.downloading", { done: fmtSize(Number(p.bytesDone)), total: fmtSize(Number(p.bytes)) });
  });
  const card = (c: PlatformCourse): HTMLElement => {
    const bar = progressBar(0, Number(c.mediaBytes), "courses.download_progress", { class: "bar download-bar" });
    bar.hidden = true;
    const state = h("p", { class: "muted small download-state" });
    const error = h("div", {});
    const button = h("button", { class: "primary download", "data-course": c.id }, T(c.downloaded ? "courses.update" : "courses.download"));
    on(button, "click", async () => {
      if (busy) return;
      busy = true;
      button.disabled = true;
      bar.hidden = false;
      error.replaceChildren();
      state.textContent = t("courses.download_starting");
      try {
        await api.courseFetch(c.id);
        nav.go({ screen: "courses" });
      } catch (e) {
        error.replaceChildren(errorLine(e));
        state.textContent = t("courses.download_resume");
        button.disabled = false;
      } finally {
        busy = false;
      }
    });
    return h(
      "article",
      { class: "card platform-course", "data-course": c.id },
      h("h3", {}, c.title),
      h("p", { class: "muted" }, T("courses.platform_meta", { institution: c.institution, hours: c.classHours, size: fmtSize(Number(c.mediaBytes)) })),
      bar,
      state,
      error,
      h("div", { class: "row" }, button),
    );
  };
  try {
    const remote = await api.platformCourses();
    const missing = remote.filter((c) => !c.downloaded);
    if (missing.length === 0) {
      section.append(h("p", { class: "muted", id: "platform-none" }, T(remote.length ? "courses.platform_all" : "courses.platform_none")));
    }
    for (const c of missing) section.append(card(c));
  } catch (e) {
    section.append(h("p", { class: "muted", id: "platform-offline" }, bound(() => t("courses.platform_offline"))), errorLine(e));
  }
  return {
    leave: () => unlisten(),
  };
}
