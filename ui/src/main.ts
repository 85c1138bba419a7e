// Keshi learner UI. It holds no rule: it shows what the shell (player-core) decides
// and reports what the learner does. Screens: sign-in, identity check, courses,
// player, records & sync, learning proof.
import { api, events } from "./api";
import { h, on, clear } from "./dom";
import { t, setLang, currentLang, errorText, fmtDuration } from "./i18n";
import { showPlayer } from "./player";
import type { AppInfo } from "./bindings/AppInfo";
import type { SyncView } from "./bindings/SyncView";

const root = document.getElementById("app")!;
let info: AppInfo;
let lastSync: SyncView | null = null;
let leavePlayer: (() => Promise<void>) | null = null;

export type Screen = "signin" | "verify" | "courses" | "records" | "proof";

function header(active?: Screen): HTMLElement {
  const lang = on(h("button", { class: "link", id: "lang" }, t("lang.switch")), "click", () => {
    setLang(currentLang() === "zh-CN" ? "en" : "zh-CN");
    rerender();
  });
  const nav = h("nav", {});
  if (info.signedIn && info.verified) {
    nav.append(
      on(h("button", { class: active === "courses" ? "tab active" : "tab", id: "nav-courses" }, t("nav.courses")), "click", () => go("courses")),
      on(h("button", { class: active === "records" ? "tab active" : "tab", id: "nav-records" }, t("nav.records")), "click", () => go("records")),
    );
  }
  if (info.signedIn) {
    nav.append(
      on(h("button", { class: "tab", id: "nav-signout" }, t("nav.signout")), "click", async () => {
        await api.signOut().catch(() => undefined);
        await refreshInfo();
        go("signin");
      }),
    );
  }
  return h(
    "header",
    {},
    h("div", { class: "brand" }, h("span", { class: "logo" }, "课"), h("span", {}, currentLang() === "en" ? info.brandEn : info.brandZh)),
    nav,
    lang,
  );
}

let current: Screen = "signin";
let currentArg = "";

function rerender(): void {
  go(current, currentArg);
}

async function refreshInfo(): Promise<void> {
  info = await api.appInfo();
}

export async function go(screen: Screen, arg = ""): Promise<void> {
  if (leavePlayer) {
    const leave = leavePlayer;
    leavePlayer = null;
    await leave();
  }
  current = screen;
  currentArg = arg;
  clear(root);
  root.dataset.screen = screen;
  root.append(header(screen));
  const main = h("main", { id: `screen-${screen}` });
  root.append(main);
  try {
    if (screen === "signin") signIn(main);
    else if (screen === "verify") await verify(main);
    else if (screen === "courses") await courses(main);
    else if (screen === "records") await records(main);
    else if (screen === "proof") await proof(main, arg);
  } catch (e) {
    main.append(h("p", { class: "error" }, errorText(e)));
  }
}

function signIn(main: HTMLElement): void {
  const user = h("input", { id: "user", name: "user", autocomplete: "username", required: true }) as HTMLInputElement;
  const pass = h("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true }) as HTMLInputElement;
  const msg = h("p", { class: "error", id: "signin-error", role: "alert" });
  const button = h("button", { class: "primary", id: "signin-submit", type: "submit" }, t("signin.submit"));
  const form = h(
    "form",
    { class: "card narrow" },
    h("h1", {}, t("signin.title")),
    h("p", { class: "muted" }, `${t("signin.platform")}: ${info.platformUrl}`),
    h("label", {}, t("signin.user"), user),
    h("label", {}, t("signin.password"), pass),
    button,
    msg,
    h("p", { class: "muted small" }, t("signin.profile", { profile: currentLang() === "en" ? info.profileEn : info.profileZh })),
    h("p", { class: "muted small mono" }, t("signin.device", { device: info.deviceId })),
  );
  on(form, "submit", async (e) => {
    e.preventDefault();
    button.setAttribute("disabled", "");
    button.textContent = t("signin.busy");
    msg.textContent = "";
    try {
      await api.signIn(user.value.trim(), pass.value);
      await refreshInfo();
      go("verify");
    } catch (err) {
      msg.textContent = errorText(err);
      button.removeAttribute("disabled");
      button.textContent = t("signin.submit");
    }
  });
  main.append(form);
  user.focus();
}

async function verify(main: HTMLElement): Promise<void> {
  const card = h("section", { class: "card narrow" }, h("h1", {}, t("verify.title")));
  main.append(card);
  const status = await api.cameraStatus();
  if (!status.available) {
    card.append(
      h("h2", { class: "error", id: "no-camera" }, t("verify.noCamera")),
      h("p", {}, (currentLang() === "en" ? status.errorEn : status.errorZh) ?? ""),
      h("p", {}, t("verify.noCameraHelp")),
      on(h("button", { class: "primary", id: "camera-recheck" }, t("verify.recheck")), "click", () => go("verify")),
    );
    return;
  }
  const img = h("img", { id: "preview", alt: t("verify.preview"), class: "preview" }) as HTMLImageElement;
  const challenge = await api.livenessStart();
  const prompt = h("p", { class: "prompt", id: "challenge", "data-code": challenge.code }, currentLang() === "en" ? challenge.promptEn : challenge.promptZh);
  const result = h("div", { id: "verify-result", role: "status" });
  const start = h("button", { class: "primary", id: "verify-start" }, t("verify.start"));
  card.append(h("p", { class: "muted" }, t("verify.intro")), img, prompt, start, result);
  let previewing = true;
  const tick = async () => {
    while (previewing && document.body.contains(img)) {
      try {
        img.src = await api.cameraPreview();
      } catch {
        /* the check itself reports camera errors */
      }
      await new Promise((r) => setTimeout(r, 400));
    }
  };
  tick();
  on(start, "click", async () => {
    start.setAttribute("disabled", "");
    clear(result);
    result.append(h("p", {}, t("verify.checking")));
    try {
      const r = await api.livenessCheck();
      previewing = false;
      clear(result);
      await refreshInfo();
      if (r.passed) {
        result.append(
          h("p", { class: "ok", id: "verify-passed" }, t("verify.passed")),
          on(h("button", { class: "primary", id: "verify-continue" }, t("verify.continue")), "click", () => go("courses")),
        );
        root.replaceChild(header("verify"), root.querySelector("header")!);
      } else {
        result.append(
          h("p", { class: "error", id: "verify-failed" }, t("verify.failed")),
          h("ul", {}, ...r.reasons.map((x) => h("li", { "data-code": x.code }, currentLang() === "en" ? x.en : x.zh))),
          on(h("button", { class: "primary", id: "verify-retry" }, t("verify.retry")), "click", () => go("verify")),
        );
      }
    } catch (e) {
      clear(result);
      result.append(h("p", { class: "error" }, errorText(e)), on(h("button", { id: "verify-retry" }, t("verify.retry")), "click", () => go("verify")));
    }
  });
}

async function courses(main: HTMLElement): Promise<void> {
  const list = await api.courses();
  main.append(h("h1", {}, t("courses.title")));
  if (list.length === 0) {
    main.append(h("p", { class: "muted" }, t("courses.empty")));
    return;
  }
  for (const c of list) {
    const pct = c.classHoursRequired > 0 ? Math.min(100, (100 * c.classHoursDone) / c.classHoursRequired) : 0;
    const started = Number(c.creditedMs) > 0 || Number(c.positionMs) > 0;
    main.append(
      h(
        "article",
        { class: "card course", "data-course": c.id },
        h("h2", {}, c.title),
        h("p", { class: "muted" }, `${c.occupation} · ${c.level}`),
        h("div", { class: "bar", role: "progressbar", "aria-valuenow": Math.round(pct), "aria-valuemin": 0, "aria-valuemax": 100 }, h("div", { class: "fill", style: `width:${pct}%` })),
        h("p", { class: "hours" }, t("courses.hours", { done: c.classHoursDone, required: c.classHoursRequired, total: c.classHoursTotal })),
        h("p", { class: "muted small" }, t("courses.credited", { time: fmtDuration(Number(c.creditedMs)) })),
        h(
          "div",
          { class: "row" },
          on(h("button", { class: "primary study", "data-course": c.id }, started ? t("courses.continue") : t("courses.study")), "click", () => openCourse(c.id)),
          on(h("button", { class: "proof", "data-course": c.id }, t("courses.proof")), "click", () => go("proof", c.id)),
        ),
      ),
    );
  }
}

async function openCourse(id: string): Promise<void> {
  current = "courses";
  clear(root);
  root.dataset.screen = "player";
  root.append(header());
  const main = h("main", { id: "screen-player" });
  root.append(main);
  try {
    const opened = await api.courseOpen(id);
    leavePlayer = await showPlayer(main, opened, () => go("courses"));
  } catch (e) {
    main.append(h("p", { class: "error" }, errorText(e)));
  }
}

function syncStateText(v: SyncView): string {
  return t(`sync.${v.state}`);
}

async function records(main: HTMLElement): Promise<void> {
  const v = lastSync ?? (await api.syncStatus());
  const box = h("section", { class: "card", id: "records" });
  main.append(h("h1", {}, t("records.title")), box);
  const draw = (s: SyncView) => {
    clear(box);
    const total = Number(s.records);
    const ack = Number(s.acknowledged);
    const pct = total > 0 ? (100 * ack) / total : 100;
    box.append(
      h("div", { class: "bar big", role: "progressbar", "aria-valuenow": Math.round(pct) }, h("div", { class: "fill", style: `width:${pct}%` })),
      h(
        "dl",
        { class: "grid" },
        h("dt", {}, t("records.state")), h("dd", { id: "sync-state", "data-state": s.state }, syncStateText(s)),
        h("dt", {}, t("records.total")), h("dd", { id: "sync-records" }, String(total)),
        h("dt", {}, t("records.acknowledged")), h("dd", { id: "sync-acknowledged" }, String(ack)),
        h("dt", {}, t("records.queued")), h("dd", { id: "sync-queued" }, String(s.queued)),
        h("dt", {}, t("records.sent")), h("dd", {}, String(s.sent)),
        h("dt", {}, t("records.lastSynced")), h("dd", {}, s.lastSyncedMs ? new Date(Number(s.lastSyncedMs)).toLocaleString(currentLang()) : t("records.none")),
        h("dt", {}, t("records.lastError")), h("dd", { id: "sync-error" }, s.errorCode ? `${t(`error.${s.errorCode}`) !== `error.${s.errorCode}` ? t(`error.${s.errorCode}`) : s.errorCode}${s.errorMessage ? ` — ${s.errorMessage}` : ""}` : t("records.none")),
      ),
      on(h("button", { class: "primary", id: "sync-now" }, t("records.syncNow")), "click", async () => {
        try {
          draw(await api.syncNow());
        } catch (e) {
          box.append(h("p", { class: "error" }, errorText(e)));
        }
      }),
    );
  };
  draw(v);
  syncRedraw = (s) => {
    if (current === "records" && document.body.contains(box)) draw(s);
  };
}

let syncRedraw: ((s: SyncView) => void) | null = null;

async function proof(main: HTMLElement, courseId: string): Promise<void> {
  const p = await api.learningProof(courseId);
  const yes = (b: boolean) => (b ? t("proof.yes") : t("proof.no"));
  main.append(
    h("h1", {}, t("proof.title")),
    h(
      "section",
      { class: "card", id: "proof" },
      h("h2", {}, p.course.title),
      h("p", {}, t("courses.hours", { done: p.course.classHoursDone, required: p.course.classHoursRequired, total: p.course.classHoursTotal })),
      h("p", {}, `${t("proof.credited")}: ${fmtDuration(Number(p.course.creditedMs))}`),
      h(
        "table",
        {},
        h("thead", {}, h("tr", {}, ...["proof.hour", "proof.completed", "proof.captures", "proof.quiz", "proof.attempts"].map((k) => h("th", {}, t(k))))),
        h(
          "tbody",
          {},
          ...p.hours.map((x) =>
            h("tr", { "data-hour": x.classHour }, h("td", {}, String(x.classHour)), h("td", {}, yes(x.completed)), h("td", {}, String(x.capturesPassed)), h("td", {}, yes(x.quizPassed)), h("td", {}, String(x.quizAttempts))),
          ),
        ),
      ),
      h(
        "dl",
        { class: "grid" },
        h("dt", {}, t("proof.sessions")), h("dd", {}, String(p.sessions)),
        h("dt", {}, t("proof.notCounted")), h("dd", {}, p.violations.length ? p.violations.map(([k, n]) => `${t(`reason.${k}`)} ×${n}`).join("，") : t("records.none")),
        h("dt", {}, t("proof.device")), h("dd", { class: "mono" }, p.deviceId),
        h("dt", {}, t("proof.records")), h("dd", {}, String(p.records)),
        h("dt", {}, t("proof.acknowledged")), h("dd", {}, String(p.acknowledged)),
        h("dt", {}, t("proof.head")), h("dd", { class: "mono small" }, p.headHash),
        h("dt", {}, t("proof.verified")),
        p.verified === null
          ? h("dd", { id: "proof-verified", class: "muted", "data-state": "pending" }, t("proof.verifying"))
          : h("dd", { id: "proof-verified", class: p.verified ? "ok" : "error", "data-state": p.verified ? "ok" : "bad" }, `${p.verified ? t("proof.verifiedOk") : `${t("proof.verifiedBad")}: ${p.verifyMessage}`}${p.verifiedAtMs ? ` (${new Date(Number(p.verifiedAtMs)).toLocaleString(currentLang())})` : ""}`),
      ),
      on(h("button", {}, t("player.back")), "click", () => go("courses")),
    ),
  );
}

async function boot(): Promise<void> {
  setLang(currentLang());
  await refreshInfo();
  events.sync((s) => {
    lastSync = s;
    syncRedraw?.(s);
  });
  events.verified(() => {
    if (current === "proof") rerender();
  });
  events.signedOut(async () => {
    await refreshInfo();
    await go("signin");
    root.querySelector("main")?.prepend(h("p", { class: "error", id: "revoked" }, t("signedOut.revoked")));
  });
  if (!info.signedIn) go("signin");
  else if (!info.verified) go("verify");
  else go("courses");
}

boot().catch((e) => {
  root.textContent = errorText(e);
});
