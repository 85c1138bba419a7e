// The identity check: a camera preview and one random movement in plain words (the
// core draws the challenge and judges the frames); no camera → what to do.
import { api } from "../api";
import { h, on, fill } from "../dom";
import { L, T, bindAttr, t } from "../i18n";
import { errorLine } from "../widgets";
import type { Nav, Screen } from "../route";

const PREVIEW_EVERY_MS = 400;

export async function showVerify(main: HTMLElement, nav: Nav): Promise<Screen> {
  const card = h("section", { class: "card narrow" }, h("h1", {}, T("verify.title")));
  main.append(card);
  const status = await api.cameraStatus();
  if (!status.available) {
    card.append(
      h("h2", { class: "error", id: "no-camera", "data-code": status.errorCode ?? "" }, T("verify.noCamera")),
      h("p", {}, L(status.errorZh ?? "", status.errorEn ?? "")),
      h("p", {}, T("verify.noCameraHelp")),
      on(h("button", { class: "primary", id: "camera-recheck" }, T("verify.recheck")), "click", () => nav.go({ screen: "verify" })),
    );
    return {};
  }
  const img = bindAttr(h("img", { id: "preview", class: "preview" }), "alt", () => t("verify.preview"));
  const challenge = await api.livenessStart();
  const prompt = h("p", { class: "prompt", id: "challenge", "data-code": challenge.code }, L(challenge.promptZh, challenge.promptEn));
  const result = h("div", { id: "verify-result", role: "status" });
  const start = h("button", { class: "primary", id: "verify-start" }, T("verify.start"));
  card.append(h("p", { class: "muted" }, T("verify.intro")), img, prompt, start, result);

  let previewing = true;
  (async () => {
    while (previewing && img.isConnected) {
      try {
        img.src = await api.cameraPreview();
      } catch {
        /* the check itself reports camera errors */
      }
      await new Promise((r) => setTimeout(r, PREVIEW_EVERY_MS));
    }
  })();

  on(start, "click", async () => {
    start.setAttribute("disabled", "");
    fill(result, h("p", {}, T("verify.checking")));
    try {
      const r = await api.livenessCheck();
      previewing = false;
      await nav.refreshInfo();
      if (r.passed) {
        fill(
          result,
          h("p", { class: "ok", id: "verify-passed" }, T("verify.passed")),
          on(h("button", { class: "primary", id: "verify-continue" }, T("verify.continue")), "click", () => nav.go({ screen: "courses" })),
        );
      } else {
        fill(
          result,
          h("p", { class: "error", id: "verify-failed" }, T("verify.failed")),
          h("ul", {}, ...r.reasons.map((x) => h("li", { "data-code": x.code }, L(x.zh, x.en)))),
          on(h("button", { class: "primary", id: "verify-retry" }, T("verify.retry")), "click", () => nav.go({ screen: "verify" })),
        );
      }
    } catch (e) {
      fill(
        result,
        errorLine(e),
        on(h("button", { class: "primary", id: "verify-retry" }, T("verify.retry")), "click", () => nav.go({ screen: "verify" })),
      );
    }
  });

  return {
    leave: () => {
      previewing = false;
    },
  };
}
