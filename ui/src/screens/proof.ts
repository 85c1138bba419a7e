// The learning proof (R-AS-6): what the signed journal shows about one course —
// each class hour's captures and quiz, the periods that did not count, and the
// verification of the journal (signatures, chain, checkpoint). Verification runs in
// the background: opening the proof starts one, and the record check shows as
// pending ("proof.verifying") until its `verified` event arrives; then the proof is
// read again and shows that check's result and time (never an older result as if
// it were current).
import { api, events } from "../api";
import { h, on, fill } from "../dom";
import { T, fmtDuration, fmtTime, reasonText, t } from "../i18n";
import type { Nav, Screen } from "../route";
import type { ProofView } from "../bindings/ProofView";

export async function showProof(main: HTMLElement, courseId: string, nav: Nav): Promise<Screen> {
  // Fetching the proof starts a verification; its result comes as an event, which
  // may arrive before the proof itself.
  let checking = true;
  let gone = false;
  let early = false;
  let proof: ProofView | null = null;
  const onVerified = async (ok: boolean) => {
    // Re-read the proof when the check we started ends, or when a later one
    // disagrees with what is shown (each read starts a check: one read per change).
    if (gone || !proof || (!checking && ok === proof.verified)) return;
    checking = false;
    try {
      const p = await api.learningProof(courseId);
      if (!gone) draw(p);
    } catch {
      // Still pending on screen; the next event tries again.
      checking = true;
    }
  };
  const unlisten = await events.verified((ok) => {
    if (proof) onVerified(ok);
    else early = true;
  });
  try {
    proof = await api.learningProof(courseId);
  } catch (e) {
    unlisten();
    throw e;
  }
  const section = h("section", { class: "card", id: "proof" });
  main.append(h("h1", {}, T("proof.title")), section);

  const draw = (p: ProofView) => {
    proof = p;
    const yes = (b: boolean) => t(b ? "proof.yes" : "proof.no");
    const hours = p.hours.length
      ? h(
          "table",
          { class: "hours-table" },
          h("thead", {}, h("tr", {}, ...(["proof.hour", "proof.completed", "proof.captures", "proof.quiz", "proof.attempts"] as const).map((k) => h("th", { scope: "col" }, t(k))))),
          h(
            "tbody",
            {},
            ...p.hours.map((x) =>
              h(
                "tr",
                { "data-hour": x.classHour },
                h("td", {}, String(x.classHour)),
                h("td", {}, yes(x.completed)),
                h("td", {}, String(x.capturesPassed)),
                h("td", {}, yes(x.quizPassed)),
                h("td", {}, String(x.quizAttempts)),
              ),
            ),
          ),
        )
      : h("p", { class: "muted", id: "proof-no-hours" }, t("proof.noHours"));
    const notCounted = p.violations.length
      ? p.violations.map(([k, n]) => t("proof.violationCount", { reason: reasonText(k), count: n })).join(t("list.separator"))
      : t("records.none");
    // Pending until the check this screen started has reported (`verified` event).
    const result = checking ? null : p.verified;
    const verified =
      result === null
        ? h("dd", { id: "proof-verified", class: "muted", "data-state": "pending" }, t("proof.verifying"))
        : h(
            "dd",
            { id: "proof-verified", class: result ? "ok" : "error", "data-state": result ? "ok" : "bad" },
            t(result ? "proof.verifiedOk" : "proof.verifiedBad"),
          );
    const verifiedMore = h(
      "dd",
      { class: "muted small", id: "proof-verified-at" },
      result !== null && p.verifiedAtMs !== null ? t("proof.verifiedAt", { time: fmtTime(Number(p.verifiedAtMs)) }) : "",
      result === false && p.verifyMessage ? h("span", { class: "mono" }, ` ${p.verifyMessage}`) : null,
    );
    fill(
      section,
      h("h2", {}, p.course.title),
      h("p", {}, t("courses.hours", { done: p.course.classHoursDone, required: p.course.classHoursRequired, total: p.course.classHoursTotal })),
      h("p", {}, t("proof.credited", { time: fmtDuration(Number(p.course.creditedMs)) })),
      hours,
      h(
        "dl",
        { class: "grid" },
        h("dt", {}, t("proof.sessions")), h("dd", {}, String(p.sessions)),
        h("dt", {}, t("proof.notCounted")), h("dd", { id: "proof-not-counted" }, notCounted),
        h("dt", {}, t("proof.device")), h("dd", { class: "mono" }, p.deviceId),
        h("dt", {}, t("proof.records")), h("dd", {}, String(p.records)),
        h("dt", {}, t("proof.acknowledged")), h("dd", {}, String(p.acknowledged)),
        h("dt", {}, t("proof.head")), h("dd", { class: "mono small" }, p.headHash),
        h("dt", {}, t("proof.verified")), verified, verifiedMore,
      ),
      on(h("button", { id: "proof-back" }, t("player.back")), "click", () => nav.go({ screen: "courses" })),
    );
  };
  draw(proof);
  if (early) onVerified(true); // the check ended while the proof was read: read it again
  return {
    relabel: () => proof && draw(proof),
    leave: () => {
      gone = true;
      unlisten();
    },
  };
}
