// The course list: class hours done against what the level requires (R-AS-3), time
// counted, study / continue, and the learning proof.
import { api } from "../api";
import { h, on } from "../dom";
import { T, fmtDuration, levelText } from "../i18n";
import type { Nav, Screen } from "../route";
import { progressBar } from "../widgets";

export async function showCourses(main: HTMLElement, nav: Nav): Promise<Screen> {
  const list = await api.courses();
  main.append(h("h1", {}, T("courses.title")));
  if (list.length === 0) {
    main.append(h("p", { class: "muted" }, T("courses.empty")));
    return {};
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
  return {};
}
