// The institution console (issue 12): one page on the staff API. No framework and
// no build step; every text comes from i18n/zh-CN.json or i18n/en.json. The session
// is the HttpOnly cookie the sign-in sets; requests that change data carry the
// session's anti-CSRF token. Scope is the platform's business: this page shows
// what the API answers and nothing else.

import { $, h } from "/console/dom.js";
import { consistent, signed } from "/console/merkle.js";

const state = { lang: localStorage.getItem("keshi-console-lang") || "zh-CN", dict: {}, session: null, timer: null };

// ---- i18n ------------------------------------------------------------------------
async function loadLang(lang) {
  const r = await fetch(`/console/i18n/${lang}.json`);
  state.dict = await r.json();
  state.lang = lang;
  document.documentElement.lang = lang;
  document.title = t("title");
  $("#lang").textContent = t("lang.switch");
  $("#logout").textContent = t("logout");
}

function t(key, vars = {}) {
  const s = state.dict[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => (vars[k] === undefined ? `{${k}}` : String(vars[k])));
}

// ---- DOM -------------------------------------------------------------------------

/** A table; on a phone each row becomes a card whose cells carry their column's name. */
function table(cols, rows, attrs = {}) {
  for (const row of rows) [...row.children].forEach((td, i) => td.setAttribute("data-label", t(cols[i])));
  return h(
    "div",
    { class: "table-wrap" },
    h("table", { ...attrs, class: "cards" }, h("thead", {}, h("tr", {}, cols.map((c) => h("th", {}, t(c))))), h("tbody", {}, rows)),
  );
}

function fmtTime(ms) {
  if (!ms) return "—";
  return new Date(Number(ms)).toLocaleString(state.lang === "zh-CN" ? "zh-CN" : "en-GB", { hour12: false });
}

function fmtSeconds(s) {
  const m = Math.floor(Number(s) / 60);
  return `${Math.floor(m / 60)}:${String(m % 60).padStart(2, "0")}`;
}

// ---- API -------------------------------------------------------------------------
class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `HTTP ${status}`);
    this.status = status;
    this.code = body?.code;
    this.body = body;
  }
}

async function api(method, path, body, { raw = false } = {}) {
  const headers = {};
  if (method !== "GET" && state.session) headers["X-CSRF-Token"] = state.session.csrf;
  let payload;
  if (raw) {
    payload = body;
    headers["Content-Type"] = "application/octet-stream";
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers["Content-Type"] = "application/json";
  }
  let r;
  try {
    r = await fetch(path, { method, headers, body: payload, credentials: "same-origin" });
  } catch {
    throw new ApiError(0, { code: "network", message: t("error.network") });
  }
  const text = await r.text();
  const json = text ? JSON.parse(text) : null;
  if (!r.ok) {
    if (r.status === 401 && path !== "/v1/staff/login") {
      state.session = null;
      showLogin();
    }
    throw new ApiError(r.status, json);
  }
  return json;
}

function errorText(e) {
  const key = `error.${e.code}`;
  if (e.code && state.dict[key]) return t(key);
  return t("error.generic", { message: e.message });
}

function errorLine(e) {
  return h("p", { class: "error", role: "alert" }, errorText(e));
}

// ---- shell -----------------------------------------------------------------------
const ROUTES = [
  ["learners", "nav.learners", () => true],
  ["live", "nav.live", () => true],
  ["courses", "nav.courses", () => true],
  ["import", "nav.import", (r) => ["operator", "institution", "enterprise"].includes(r)],
  ["attendance", "nav.attendance", () => true],
  ["flags", "nav.flags", () => true],
  ["spotchecks", "nav.spotchecks", () => true],
  ["reports", "nav.reports", () => true],
  ["audit", "nav.audit", (r) => ["operator", "auditor"].includes(r)],
  ["org", "nav.org", (r) => r === "operator"],
];

function drawShell() {
  const nav = $("#nav");
  nav.replaceChildren();
  const role = state.session?.role;
  nav.hidden = !role;
  $("#logout").hidden = !role;
  $("#who").textContent = role ? t("who", { user: state.session.user, role: t(`role.${role}`) }) + (state.session.institution ? ` · ${state.session.institution}` : "") : "";
  if (!role) return;
  const here = location.hash.slice(1).split("/")[0] || "learners";
  for (const [name, key, allowed] of ROUTES) {
    if (!allowed(role)) continue;
    nav.append(h("a", { href: `#${name}`, id: `nav-${name}`, class: here === name ? "active" : undefined }, t(key)));
  }
}

async function route() {
  clearInterval(state.timer);
  state.timer = null;
  if (!state.session) return showLogin();
  drawShell();
  const [name, arg] = location.hash.slice(1).split("/");
  const main = $("#main");
  main.replaceChildren(h("p", { class: "muted" }, t("loading")));
  const screen = { learners: showLearners, learner: showLearner, live: showLive, courses: showCourses, import: showImport, attendance: showAttendance, flags: showFlags, spotchecks: showSpotChecks, spotcheck: showSpotCheck, reports: showReports, audit: showAudit, org: showOrg }[name || "learners"] || showLearners;
  const out = h("section", { id: `screen-${name || "learners"}` });
  try {
    await screen(out, arg ? decodeURIComponent(arg) : undefined);
  } catch (e) {
    out.append(errorLine(e));
  }
  main.replaceChildren(out);
}

function showLogin() {
  clearInterval(state.timer);
  drawShell();
  const error = h("div", {});
  const form = h(
    "form",
    { class: "card login", id: "login" },
    h("h1", {}, t("login.title")),
    h("label", { for: "user" }, t("login.user")),
    h("input", { type: "text", id: "user", autocomplete: "username", required: true }),
    h("label", { for: "password" }, t("login.password")),
    h("input", { type: "password", id: "password", autocomplete: "current-password", required: true }),
    error,
    h("button", { class: "primary", id: "login-submit", type: "submit" }, t("login.submit")),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.replaceChildren();
    try {
      await api("POST", "/v1/staff/login", { user: $("#user").value.trim(), password: $("#password").value });
      state.session = await api("GET", "/v1/staff/session");
      if (!location.hash) location.hash = "#learners";
      await route();
    } catch (e) {
      error.replaceChildren(errorLine(e));
    }
  });
  $("#main").replaceChildren(form);
}

// ---- learners --------------------------------------------------------------------
async function showLearners(out) {
  out.append(h("h1", {}, t("learners.title")));
  const body = h("tbody", {});
  let after = "";
  const more = h("button", { id: "learners-more", hidden: true }, t("learners.more"));
  const load = async () => {
    const r = await api("GET", `/v1/staff/learners?after=${encodeURIComponent(after)}`);
    for (const l of r.learners) {
      body.append(
        h(
          "tr",
          { "data-user": l.user },
          h("td", {}, h("a", { href: `#learner/${encodeURIComponent(l.user)}` }, l.user)),
          h("td", {}, l.real_name),
          h("td", {}, l.id_number),
          h("td", {}, l.class || "—"),
          h("td", {}, l.institution),
        ),
      );
    }
    if (r.learners.length) after = r.learners[r.learners.length - 1].user;
    more.hidden = r.learners.length < 500;
    return r.learners.length;
  };
  const n = await load();
  if (n === 0) {
    out.append(h("p", { class: "muted", id: "learners-empty" }, t("learners.empty")));
    return;
  }
  more.addEventListener("click", load);
  out.append(
    h("div", { class: "table-wrap" }, h("table", { id: "learners" }, h("thead", {}, h("tr", {}, ["col.user", "col.name", "col.id_number", "col.class", "col.institution"].map((c) => h("th", {}, t(c))))), body)),
    more,
  );
}

function photo(src, caption) {
  return h("figure", {}, h("img", { src, alt: caption, loading: "lazy" }), h("figcaption", {}, caption));
}

/** The fact's telling fields (positions in seconds). */
function factDetail(e) {
  const f = e.fact || {};
  const sec = (ms) => (Number(ms) / 1000).toFixed(0);
  const parts = [];
  if (f.pos0_ms !== undefined && f.pos_ms !== undefined) parts.push(`${sec(f.pos0_ms)}s→${sec(f.pos_ms)}s`);
  if (f.credited_ms !== undefined) parts.push(`+${sec(f.credited_ms)}s`);
  for (const k of ["course", "class_hour", "state", "rate", "passed", "ok", "reason", "kind", "attempt", "correct", "total"]) {
    if (f[k] !== undefined && typeof f[k] !== "object") parts.push(`${k}=${f[k]}`);
  }
  return parts.join(" ");
}

async function showLearner(out, user) {
  const [d, tl] = await Promise.all([
    api("GET", `/v1/staff/learners/${encodeURIComponent(user)}`),
    api("GET", `/v1/staff/learners/${encodeURIComponent(user)}/timeline`),
  ]);
  out.append(
    h("p", {}, h("a", { href: "#learners", id: "learner-back" }, `← ${t("learner.back")}`)),
    h("h1", {}, t("learner.title", { name: `${d.learner.real_name} (${d.learner.user})` })),
    h("p", { class: "muted" }, `${d.learner.id_number} · ${d.learner.institution}`),
    h(
      "div",
      { class: "stats", id: "learner-stats" },
      h("div", {}, h("b", {}, fmtSeconds(d.credited_seconds)), t("learner.credited")),
      h("div", {}, h("b", {}, d.class_hours_completed), t("learner.hours")),
      h("div", {}, h("b", {}, d.records), t("learner.records")),
      h("div", {}, h("b", {}, d.flags_total), t("learner.flags")),
    ),
  );
  const photos = h("div", { class: "photos", id: "learner-photos" });
  photos.append(tl.enrolment_photo ? photo(`/v1/staff/learners/${encodeURIComponent(user)}/photo`, t("learner.enrolment")) : h("p", { class: "muted small" }, t("learner.no_photo")));
  // Each capture with the platform's face check: verdict and distance (issue 14).
  const checks = new Map((tl.photo_checks || []).map((c) => [c.sha256, c]));
  for (const [sha, at] of tl.photos) {
    const c = checks.get(sha);
    const fig = photo(`/v1/staff/captures/${sha}`, fmtTime(at));
    fig.dataset.sha256 = sha;
    fig.dataset.verdict = c ? c.verdict : "pending";
    fig.querySelector("figcaption").append(
      h("br"),
      h(
        "span",
        { class: `face ${c?.verdict === "match" ? "okay" : ["mismatch", "enrolment_copy"].includes(c?.verdict) ? "error" : "muted"}` },
        c ? t(`face.${c.verdict}`, { distance: c.distance == null ? "—" : c.distance.toFixed(3), threshold: c.threshold.toFixed(2) }) : t("face.pending"),
      ),
    );
    photos.append(fig);
  }
  out.append(h("h2", {}, t("learner.photos")), photos);
  if (["operator", "institution", "enterprise"].includes(state.session.role)) {
    // The enrolment photos, one by one (R-ID-1).
    const status = h("div", { id: "photo-status", "aria-live": "polite" });
    const file = h("input", { type: "file", id: "photo-file", accept: "image/jpeg,image/png" });
    const kind = h("select", { id: "photo-kind" }, h("option", { value: "face" }, t("learner.enrolment")), h("option", { value: "idcard" }, t("learner.idcard")));
    const upload = async () => {
      const f = file.files[0];
      if (!f) return;
      try {
        await api("PUT", `/v1/staff/learners/${encodeURIComponent(user)}/photo?kind=${kind.value}`, await f.arrayBuffer(), { raw: true });
        await route();
      } catch (e) {
        status.replaceChildren(errorLine(e));
      }
    };
    out.append(h("div", { class: "row" }, kind, file, h("button", { id: "photo-upload", onclick: upload }, t("learner.upload_photo"))), status);
  }
  if (tl.grades.length) {
    out.append(
      h("h2", {}, t("learner.grades")),
      table(
        ["col.time", "col.course", "col.hours", "col.attempt", "col.score", "col.result"],
        tl.grades.map((g) => h("tr", {}, h("td", {}, fmtTime(g.graded_ms)), h("td", {}, g.course), h("td", {}, g.class_hour), h("td", {}, g.attempt), h("td", {}, `${g.correct}/${g.total}`), h("td", { class: g.passed ? "okay" : "error" }, t(g.passed ? "passed" : "failed")))),
        { id: "learner-grades" },
      ),
    );
  }
  out.append(h("h2", {}, t("learner.timeline")));
  if (!tl.entries.length) {
    out.append(h("p", { class: "muted" }, t("learner.none")));
    return;
  }
  out.append(
    table(
      ["col.received", "col.device", "col.kind", "col.detail", "col.flags"],
      tl.entries.map((e) =>
        h(
          "tr",
          { "data-kind": e.kind },
          h("td", {}, fmtTime(e.received_ms), h("br"), h("span", { class: "muted small", title: t("col.device_time") }, fmtTime(e.wall_ms))),
          h("td", { class: "small" }, `${e.device_id.slice(0, 8)}#${e.seq}`),
          h("td", {}, e.kind),
          h("td", { class: "small" }, factDetail(e)),
          h("td", { class: "flags" }, e.flags.map((f) => h("span", {}, f))),
        ),
      ),
      { id: "timeline" },
    ),
  );
}

// ---- live ------------------------------------------------------------------------
/** Why the platform is not crediting a learner, in words. */
function whyNot(code) {
  const key = `why.${code}`;
  return state.dict[key] ? t(key) : t("why.finding", { kind: code || "?" });
}

async function showLive(out) {
  out.append(h("h1", {}, t("live.title")));
  const filter = h("input", { type: "text", id: "live-filter", placeholder: t("live.filter"), "aria-label": t("live.filter") });
  const stamp = h("p", { class: "muted small", id: "live-stamp" });
  const holder = h("div", {});
  out.append(filter, stamp, holder);
  let last = null;
  const draw = () => {
    const q = filter.value.trim().toLowerCase();
    const rows = last.online.filter((o) => !q || [o.learner.institution, o.learner.class, o.course || ""].some((x) => (x || "").toLowerCase().includes(q)));
    stamp.textContent = `${t("live.count", { n: rows.length })} · ${t("live.refreshed", { time: fmtTime(last.now_ms) })}`;
    if (!rows.length) {
      holder.replaceChildren(h("p", { class: "muted", id: "live-empty" }, t("live.empty")));
      return;
    }
    holder.replaceChildren(
      table(
        ["col.name", "col.institution", "col.course", "col.lesson", "col.crediting", "col.last_contact", "col.device", "col.enrolment", "col.photos"],
        rows.map((o) =>
          h(
            "tr",
            { "data-user": o.learner.user },
            h("td", {}, h("a", { href: `#learner/${encodeURIComponent(o.learner.user)}` }, `${o.learner.real_name} (${o.learner.user})`)),
            h("td", {}, o.learner.institution),
            h("td", {}, o.course || h("span", { class: "muted" }, t("live.no_course"))),
            h("td", {}, o.lesson || "—"),
            h("td", { class: o.crediting ? "okay crediting" : "error crediting" }, o.crediting ? t("live.crediting") : whyNot(o.why_not)),
            h("td", {}, fmtTime(o.last_contact_ms)),
            h("td", { class: "small" }, o.device_id.slice(0, 12)),
            h("td", {}, o.enrolment_photo ? h("div", { class: "photos" }, h("img", { src: `/v1/staff/learners/${encodeURIComponent(o.learner.user)}/photo`, alt: t("learner.enrolment") })) : "—"),
            h("td", {}, h("div", { class: "photos live-photos" }, o.photos_today.slice(0, 4).map((sha) => h("img", { src: `/v1/staff/captures/${sha}`, alt: t("col.photos") })))),
          ),
        ),
        { id: "live" },
      ),
    );
  };
  const refresh = async () => {
    last = await api("GET", "/v1/staff/live");
    draw();
  };
  filter.addEventListener("input", () => last && draw());
  await refresh();
  state.timer = setInterval(() => refresh().catch(() => {}), 10000);
}

// ---- courses ---------------------------------------------------------------------
const PROFILES = ["shanxi", "shanghai", "shandong", "chongqing", "shapingba", "demo"];
const CHUNK = 4 << 20;

async function upload(file, sha, progress) {
  const base = `/v1/staff/media/${sha}`;
  let st = await api("GET", base);
  while (!st.complete) {
    const end = Math.min(st.received + CHUNK, file.size);
    const chunk = await file.slice(st.received, end).arrayBuffer();
    st = await api("PUT", `${base}?offset=${st.received}&total=${file.size}`, chunk, { raw: true });
    progress(st.received, file.size);
  }
}

async function showCourses(out) {
  out.append(h("h1", {}, t("courses.title")));
  const r = await api("GET", "/v1/staff/courses");
  if (!r.courses.length) out.append(h("p", { class: "muted", id: "courses-empty" }, t("courses.empty")));
  else
    out.append(
      table(
        ["col.course", "col.title", "col.institution", "col.version", "col.hours", "col.enrolled"],
        r.courses.map((c) => h("tr", { "data-course": c.id }, h("td", {}, c.id), h("td", {}, c.title), h("td", {}, c.institution), h("td", {}, c.version), h("td", {}, c.class_hours), h("td", { class: "enrolled" }, c.enrolled))),
        { id: "courses" },
      ),
    );
  const role = state.session.role;
  if (!["operator", "institution", "enterprise"].includes(role)) return;

  // Publish: the manifest, then each lesson's file in resumable chunks (the
  // platform checks the SHA-256), then the version.
  const status = h("div", { id: "publish-status", "aria-live": "polite" });
  const bar = h("progress", { id: "publish-progress", max: 1, value: 0, hidden: true });
  const form = h(
    "form",
    { class: "card", id: "publish" },
    h("h2", {}, t("publish.title")),
    h("label", { for: "publish-manifest" }, t("publish.manifest")),
    h("input", { type: "file", id: "publish-manifest", accept: ".json,application/json", required: true }),
    h("label", { for: "publish-media" }, t("publish.media")),
    h("input", { type: "file", id: "publish-media", multiple: true }),
    h("label", { for: "publish-profile" }, t("publish.profile")),
    h("select", { id: "publish-profile" }, PROFILES.map((p) => h("option", { value: p }, p))),
    role === "operator" ? [h("label", { for: "publish-institution" }, t("publish.institution")), h("input", { type: "text", id: "publish-institution" })] : null,
    bar,
    status,
    h("div", { class: "row" }, h("button", { class: "primary", type: "submit", id: "publish-submit" }, t("publish.submit"))),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const button = $("#publish-submit");
    button.disabled = true;
    status.replaceChildren();
    try {
      const manifest = JSON.parse(await $("#publish-manifest").files[0].text());
      const files = Array.from($("#publish-media").files);
      for (const lesson of manifest.lessons || []) {
        const path = lesson.media?.path;
        if (!path) continue;
        const name = path.split("/").pop();
        const file = files.find((f) => f.name === name);
        const held = await api("GET", `/v1/staff/media/${lesson.media.sha256}`);
        if (held.complete) continue;
        if (!file) throw new ApiError(0, { message: t("publish.missing", { file: path }) });
        bar.hidden = false;
        await upload(file, lesson.media.sha256, (done, total) => {
          bar.max = total;
          bar.value = done;
          status.replaceChildren(h("p", { class: "muted small" }, t("publish.uploading", { file: name, done: (done / 1048576).toFixed(1), total: (total / 1048576).toFixed(1) })));
        });
      }
      const body = { manifest, profile: $("#publish-profile").value };
      if (role === "operator") body.institution = $("#publish-institution").value.trim();
      const v = await api("POST", "/v1/staff/courses", body);
      status.replaceChildren(h("p", { class: "okay", id: "publish-done" }, t("publish.done", { id: v.course_id, version: v.version })));
      setTimeout(() => route(), 800);
    } catch (e) {
      status.replaceChildren(errorLine(e));
    } finally {
      button.disabled = false;
    }
  });
  out.append(form);

  // Enrol a class or named learners.
  const enrolStatus = h("div", { id: "enrol-status", "aria-live": "polite" });
  const enrol = h(
    "form",
    { class: "card", id: "enrol" },
    h("h2", {}, t("enrol.title")),
    h("label", { for: "enrol-course" }, t("enrol.course")),
    h("select", { id: "enrol-course" }, r.courses.map((c) => h("option", { value: c.id }, `${c.title} (${c.id})`))),
    h("label", { for: "enrol-class" }, t("enrol.class")),
    h("input", { type: "text", id: "enrol-class" }),
    h("label", { for: "enrol-learners" }, t("enrol.learners")),
    h("input", { type: "text", id: "enrol-learners" }),
    enrolStatus,
    h("div", { class: "row" }, h("button", { class: "primary", type: "submit", id: "enrol-submit" }, t("enrol.submit"))),
  );
  enrol.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const cls = $("#enrol-class").value.trim();
      const learners = $("#enrol-learners").value.split(/[\s,，]+/).filter(Boolean);
      const v = await api("POST", "/v1/staff/enrolments", { course: $("#enrol-course").value, class: cls || undefined, learners });
      enrolStatus.replaceChildren(
        v.unknown.length ? h("p", { class: "error" }, t("enrol.unknown", { names: v.unknown.join(", ") })) : h("p", { class: "okay", id: "enrol-done" }, t("enrol.done", v)),
      );
    } catch (e) {
      enrolStatus.replaceChildren(errorLine(e));
    }
  });
  if (r.courses.length) out.append(enrol);
}

// ---- import ----------------------------------------------------------------------
async function showImport(out) {
  out.append(h("h1", {}, t("import.title")));
  const result = h("div", { id: "import-result", "aria-live": "polite" });
  const file = h("input", { type: "file", id: "import-file", accept: ".csv,.xlsx,text/csv" });
  const send = async (mode) => {
    const f = file.files[0];
    if (!f) return;
    const format = f.name.toLowerCase().endsWith(".xlsx") ? "xlsx" : "csv";
    const q = mode === "check" ? "dry_run=1" : mode === "good" ? "partial=1" : "partial=0";
    const inst = state.session.role === "operator" ? `&institution=${encodeURIComponent($("#import-institution").value.trim())}` : "";
    return api("POST", `/v1/staff/learners/import?format=${format}&${q}${inst}`, await f.arrayBuffer(), { raw: true });
  };
  const check = async () => {
    result.replaceChildren();
    try {
      const r = await send("check");
      const good = r.good ?? 0;
      const parts = [h("p", { class: r.rejected.length ? "error" : "okay", id: "import-summary" }, r.rejected.length ? t("import.checked", { good, bad: r.rejected.length }) : t("import.clean", { good }))];
      if (r.rejected.length) {
        parts.push(table(["col.row", "col.code", "col.message"], r.rejected.map((x) => h("tr", {}, h("td", {}, x.row), h("td", {}, x.code), h("td", {}, x.message))), { id: "import-rejected" }));
      }
      const go = async (mode) => {
        try {
          const done = await send(mode);
          result.replaceChildren(h("p", { class: "okay", id: "import-done" }, t("import.result", { n: done.imported })));
        } catch (e) {
          result.append(errorLine(e));
        }
      };
      if (!r.rejected.length && good > 0) parts.push(h("div", { class: "row" }, h("button", { class: "primary", id: "import-all", onclick: () => go("all") }, t("import.all"))));
      else if (good > 0) parts.push(h("div", { class: "row" }, h("button", { class: "primary", id: "import-good", onclick: () => go("good") }, t("import.good", { n: good }))));
      result.replaceChildren(...parts);
    } catch (e) {
      result.replaceChildren(errorLine(e));
    }
  };
  out.append(
    h(
      "div",
      { class: "card" },
      state.session.role === "operator" ? [h("label", { for: "import-institution" }, t("import.institution")), h("input", { type: "text", id: "import-institution" })] : null,
      h("label", { for: "import-file" }, t("import.file")),
      file, h("div", { class: "row" }, h("button", { class: "primary", id: "import-check", onclick: check }, t("import.check"))), result),
  );
}

// ---- audit -----------------------------------------------------------------------
async function showAudit(out) {
  out.append(h("h1", {}, t("audit.title")));
  const r = await api("GET", "/v1/staff/audit");
  if (!r.entries.length) {
    out.append(h("p", { class: "muted" }, t("audit.empty")));
    return;
  }
  out.append(
    table(
      ["col.time", "col.actor", "col.action", "col.target", "col.after"],
      r.entries.map((e) => h("tr", { "data-action": e.action }, h("td", {}, fmtTime(e.at_ms)), h("td", {}, e.actor), h("td", {}, e.action), h("td", {}, e.target), h("td", { class: "small" }, e.after ? JSON.stringify(e.after) : ""))),
      { id: "audit" },
    ),
  );
}

// ---- attendance and certificates (issue 13, R-AS-5, R-AS-2, R-AS-6) --------------
async function showAttendance(out, course) {
  out.append(h("h1", {}, t("attendance.title")));
  const courses = (await api("GET", "/v1/staff/courses")).courses;
  if (!courses.length) {
    out.append(h("p", { class: "muted" }, t("courses.empty")));
    return;
  }
  const pick = h(
    "select",
    { id: "attendance-course", "aria-label": t("col.course"), onchange: () => (location.hash = `#attendance/${encodeURIComponent(pick.value)}`) },
    courses.map((c) => h("option", { value: c.id, selected: c.id === course }, `${c.title} (${c.id})`)),
  );
  out.append(h("p", {}, h("label", {}, t("col.course"), " ", pick)));
  const id = course || courses[0].id;
  const r = await api("GET", `/v1/staff/attendance?course=${encodeURIComponent(id)}`);
  const qualified = r.results.filter((x) => x.qualified).length;
  const risk = r.results.filter((x) => x.at_risk).length;
  out.append(h("p", { id: "attendance-summary" }, t("attendance.summary", { n: r.results.length, qualified, risk })));
  if (!r.results.length) {
    out.append(h("p", { class: "muted" }, t("attendance.empty")));
    return;
  }
  const issues = state.session.role !== "auditor";
  if (issues && qualified)
    out.append(
      h(
        "p",
        {},
        h("a", { class: "button", id: "certificates-zip", href: `/v1/staff/certificates?course=${encodeURIComponent(id)}`, download: `keshi-certificates-${id}.zip` }, t("attendance.download_all", { n: qualified })),
      ),
    );
  out.append(
    table(
      ["col.user", "col.name", "col.class", "col.hours", "col.attendance", "col.score", "col.result", "col.certificate"],
      r.results.map((x) =>
        h(
          "tr",
          { "data-user": x.user, class: x.at_risk ? "at-risk" : undefined },
          h("td", {}, x.user),
          h("td", {}, x.real_name),
          h("td", {}, x.class || "—"),
          h("td", {}, `${x.class_hours_completed} / ${x.class_hours_planned}`),
          h("td", {}, `${(x.attendance * 100).toFixed(0)}%`),
          h("td", {}, x.score),
          h("td", { class: "result" }, x.qualified ? t("attendance.qualified") : x.at_risk ? t("attendance.at_risk") : t("attendance.not_yet")),
          h(
            "td",
            {},
            x.qualified && issues
              ? h("a", { class: "certificate", href: `/v1/staff/certificates/${encodeURIComponent(x.user)}/${encodeURIComponent(id)}`, download: `${x.user}-${id}.pdf` }, t("attendance.download"))
              : "—",
          ),
        ),
      ),
      { id: "attendance" },
    ),
  );
  out.append(h("p", { class: "muted small" }, t("attendance.formula")));
}

// ---- course-farming findings and their review (issue 13, R-SV-3) ----------------

/** What a finding observed and its limit, worded in the reader's language from the
 * figures the platform keeps (`detail`); findings stored before them have their
 * English text only. */
function findingText(f) {
  const d = f.detail;
  if (!d) return [f.observed, f.limit];
  const n1 = (x) => Number(x).toFixed(1);
  const n0 = (x) => Number(x).toFixed(0);
  const hh = (x) => String(x).padStart(2, "0");
  const args = { ...d };
  switch (d.kind) {
    case "flags":
      args.list = Object.entries(d.counts)
        .map(([k, n]) => t("finding.flags.item", { n, kind: t(`flagkind.${k}`) }))
        .join(t("finding.flags.sep"));
      break;
    case "daily_cap":
      Object.assign(args, { minutes: n1(d.minutes), cap_minutes: n1(d.cap_minutes) });
      break;
    case "study_window":
      Object.assign(args, { minutes: n1(d.minutes), from: hh(d.from), to: hh(d.to) });
      break;
    case "regular_sessions":
      Object.assign(args, { length_sd_s: n0(d.length_sd_s), start_sd_s: n0(d.start_sd_s), length_floor_s: n0(d.length_floor_s), start_floor_s: n0(d.start_floor_s) });
      break;
    case "fast_quiz":
      args.seconds = n1(d.seconds);
      break;
    case "identical_answers":
      Object.assign(args, { n: d.others.length, others: d.others.join(", ") });
      break;
    case "spot_check":
      args.method = t(`spot.method.${d.method}`);
      break;
    case "face_mismatch":
      Object.assign(args, { distance: Number(d.distance).toFixed(3), threshold: Number(d.threshold).toFixed(3) });
      break;
    case "enrolment_copy":
      args.distance = Number(d.distance).toFixed(3);
      break;
  }
  return [t(`finding.${d.kind}`, args), t(`finding.${d.kind}.limit`, args)];
}

async function showFlags(out) {
  out.append(h("h1", {}, t("flags.title")));
  const r = await api("GET", "/v1/staff/flags");
  if (!r.findings.length) {
    out.append(h("p", { class: "muted", id: "flags-empty" }, t("flags.empty")));
    return;
  }
  const reviews = ["operator", "authority"].includes(state.session.role);
  const rows = r.findings.map((f) => {
    const evidence = f.evidence.map((e) => `${e.device.slice(0, 8)}… #${e.seq_from}–${e.seq_to}`).join("; ");
    const decide = h("td", { class: "status" }, t(`flags.status.${f.status}`), f.reason ? ` — ${f.reason}` : "");
    if (reviews && f.status === "open") {
      const reason = h("input", { type: "text", class: "reason", placeholder: t("flags.reason"), "aria-label": t("flags.reason") });
      const line = h("p", { class: "error", role: "alert", hidden: true });
      const act = (decision) => async () => {
        if (!reason.value.trim()) {
          line.textContent = t("flags.reason_needed");
          line.hidden = false;
          reason.focus();
          return;
        }
        try {
          await api("POST", `/v1/staff/flags/${encodeURIComponent(f.id)}/review`, { decision, reason: reason.value });
          await route();
        } catch (e) {
          line.textContent = errorText(e);
          line.hidden = false;
        }
      };
      decide.replaceChildren(
        reason,
        h("button", { type: "button", class: "confirm", onclick: act("confirm") }, t("flags.confirm")),
        h("button", { type: "button", class: "dismiss", onclick: act("dismiss") }, t("flags.dismiss")),
        line,
      );
    }
    return h(
      "tr",
      { "data-rule": f.rule, "data-learner": f.learner, "data-id": f.id },
      h("td", {}, fmtTime(f.created_ms)),
      h("td", {}, f.learner),
      h("td", {}, t(`rule.${f.rule}`), h("br"), h("span", { class: `severity ${f.severity}` }, t(`severity.${f.severity}`))),
      h("td", { class: "small" }, ...((observed, limit) => [observed, h("br"), h("span", { class: "muted" }, `${t("flags.limit")}: ${limit}`)])(...findingText(f))),
      h("td", { class: "small" }, evidence),
      decide,
    );
  });
  out.append(table(["col.time", "col.user", "col.rule", "col.observed", "col.evidence", "col.status"], rows, { id: "flags" }));
}

// ---- spot checks (issue 13, R-SV-6) ----------------------------------------------
function today() {
  // China time: the platform's calendar.
  return new Date(Date.now() + 8 * 3600e3).toISOString().slice(0, 10);
}

async function showSpotChecks(out) {
  out.append(h("h1", {}, t("spot.title")));
  const role = state.session.role;
  if (["operator", "authority"].includes(role)) {
    const line = h("div", { "aria-live": "polite" });
    const scope = h("input", { type: "text", id: "spot-scope", required: true, value: role === "operator" ? "*" : state.session.scope || "" });
    const date = h("input", { type: "date", id: "spot-date", required: true, value: today() });
    const size = h("input", { type: "number", id: "spot-size", min: 1, max: 500, value: 10, required: true });
    const form = h(
      "form",
      { class: "card", id: "spot-draw" },
      h("h2", {}, t("spot.draw")),
      h("p", { class: "muted small" }, t("spot.how")),
      h("label", { for: "spot-scope" }, t("spot.scope")),
      scope,
      h("label", { for: "spot-date" }, t("spot.date")),
      date,
      h("label", { for: "spot-size" }, t("spot.size")),
      size,
      line,
      h("div", { class: "row" }, h("button", { class: "primary", type: "submit", id: "spot-submit" }, t("spot.submit"))),
    );
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try {
        const c = await api("POST", "/v1/staff/spot-checks", { scope: scope.value.trim(), date: date.value, size: Number(size.value) });
        location.hash = `#spotcheck/${encodeURIComponent(c.id)}`;
      } catch (e) {
        line.replaceChildren(errorLine(e));
      }
    });
    out.append(form);
  }
  const r = await api("GET", "/v1/staff/spot-checks");
  if (!r.checks.length) {
    out.append(h("p", { class: "muted", id: "spot-empty" }, t("spot.empty")));
    return;
  }
  out.append(
    table(
      ["col.date", "spot.scope", "spot.size", "spot.checked", "spot.abnormal"],
      r.checks.map((c) =>
        h(
          "tr",
          { "data-id": c.id },
          h("td", {}, h("a", { href: `#spotcheck/${encodeURIComponent(c.id)}` }, c.date)),
          h("td", {}, c.scope),
          h("td", {}, c.size),
          h("td", {}, c.checked),
          h("td", { class: c.abnormal ? "at-risk" : undefined }, c.abnormal),
        ),
      ),
      { id: "spot-checks" },
    ),
  );
}

async function showSpotCheck(out, id) {
  const c = await api("GET", `/v1/staff/spot-checks/${encodeURIComponent(id)}`);
  out.append(h("p", {}, h("a", { href: "#spotchecks" }, t("spot.back"))));
  out.append(h("h1", {}, t("spot.one", { scope: c.scope, date: c.date })));
  out.append(
    h(
      "p",
      { class: "muted small", id: "spot-seed" },
      t("spot.seed", { size: c.checkpoint_size, root: c.checkpoint_root, seed: c.seed, population: c.population }),
    ),
  );
  const records = ["operator", "authority"].includes(state.session.role);
  const rows = c.checks.map((x) => {
    const cell = h("td", { class: "status" }, x.result ? `${t(`spot.method.${x.method}`)} · ${t(`spot.result.${x.result}`)}${x.note ? ` — ${x.note}` : ""}` : "—");
    if (records) {
      const method = h("select", { class: "method", "aria-label": t("spot.method") }, ["video", "phone", "data"].map((m) => h("option", { value: m, selected: m === x.method }, t(`spot.method.${m}`))));
      const result = h("select", { class: "result", "aria-label": t("spot.result") }, ["normal", "abnormal"].map((m) => h("option", { value: m, selected: m === x.result }, t(`spot.result.${m}`))));
      const note = h("input", { type: "text", class: "note", placeholder: t("spot.note"), "aria-label": t("spot.note"), value: x.note || "" });
      const line = h("p", { class: "error", role: "alert", hidden: true });
      const save = async () => {
        try {
          await api("POST", `/v1/staff/spot-checks/${encodeURIComponent(id)}/results`, { learner: x.user, method: method.value, result: result.value, note: note.value });
          await route();
        } catch (e) {
          line.textContent = errorText(e);
          line.hidden = false;
        }
      };
      cell.append(h("div", { class: "row" }, method, result, note, h("button", { type: "button", class: "record", onclick: save }, t("spot.record"))), line);
    }
    return h("tr", { "data-user": x.user, class: x.result === "abnormal" ? "at-risk" : undefined }, h("td", {}, x.user), cell);
  });
  out.append(table(["col.user", "spot.check"], rows, { id: "spot-sample" }));
  out.append(h("h2", {}, t("spot.classes")));
  out.append(
    table(
      ["col.institution", "col.class", "col.attendance"],
      c.classes.map((k) => h("tr", {}, h("td", {}, k.institution), h("td", {}, k.class || "—"), h("td", {}, `${(k.attendance_permille / 10).toFixed(1)}%`))),
      { id: "spot-classes" },
    ),
  );
  if (c.ineligible_classes.length) {
    out.append(h("h2", {}, t("spot.ineligible")));
    out.append(h("ul", { id: "spot-ineligible" }, c.ineligible_classes.map((k) => h("li", {}, `${k.institution} · ${k.class || "—"} (${(k.attendance_permille / 10).toFixed(1)}%)`))));
  }
}

// ---- reports, plans and exports (issue 13, R-SV-7, R-SV-8, R-QA-3, R-AS-6) --------
async function showReports(out) {
  out.append(h("h1", {}, t("reports.title")));
  const role = state.session.role;
  const supervises = ["operator", "authority", "auditor"].includes(role);
  const fen = (v) => (Number(v) / 100).toFixed(2);

  // Exports: plain links (the session cookie goes with them); the file streams.
  const courses = (await api("GET", "/v1/staff/courses")).courses;
  const tables = ["learners", "hours", "attendance", "flags"].concat(supervises ? ["settlement"] : []);
  const what = h("select", { id: "export-table", "aria-label": t("export.table") }, tables.map((x) => h("option", { value: x }, t(`export.${x}`))));
  const format = h("select", { id: "export-format", "aria-label": t("export.format") }, ["xlsx", "csv"].map((x) => h("option", { value: x }, x.toUpperCase())));
  const course = h("select", { id: "export-course", "aria-label": t("col.course") }, h("option", { value: "" }, t("export.all_courses")), courses.map((c) => h("option", { value: c.id }, `${c.title} (${c.id})`)));
  const quarterOf = () => {
    const d = new Date(Date.now() + 8 * 3600e3);
    return `${d.getUTCFullYear()}Q${Math.floor(d.getUTCMonth() / 3) + 1}`;
  };
  const quarter = h("input", { type: "text", id: "export-quarter", value: quarterOf(), pattern: "\\d{4}Q[1-4]", "aria-label": t("reports.quarter") });
  const link = h("a", { id: "export-link", class: "button primary" }, t("export.download"));
  const update = () => {
    course.hidden = !["hours", "attendance", "flags"].includes(what.value);
    quarter.hidden = what.value !== "settlement";
    const q = new URLSearchParams({ format: format.value });
    if (course.value && ["hours", "attendance", "flags"].includes(what.value)) q.set("course", course.value);
    if (what.value === "settlement") q.set("quarter", quarter.value);
    link.href = `/v1/staff/exports/${what.value}?${q}`;
    link.setAttribute("download", `keshi-${what.value}.${format.value}`);
  };
  [what, format, course, quarter].forEach((el) => el.addEventListener("change", update));
  update();
  out.append(
    h(
      "div",
      { class: "card", id: "exports" },
      h("h2", {}, t("export.title")),
      h("p", { class: "muted small" }, t("export.how")),
      h("div", { class: "row wrap" }, what, format, course, quarter, link),
    ),
  );

  // Plans (R-SV-8).
  const plans = (await api("GET", "/v1/staff/plans")).plans;
  const planCard = h("div", { class: "card", id: "plans" }, h("h2", {}, t("plans.title")), h("p", { class: "muted small" }, t("plans.how")));
  if (plans.length)
    planCard.append(
      table(
        ["col.institution", "col.course", "plans.online", "plans.total", "plans.share", "plans.cap"],
        plans.map((p) =>
          h(
            "tr",
            { "data-course": p.course },
            h("td", {}, p.institution),
            h("td", {}, p.course),
            h("td", {}, p.online_class_hours),
            h("td", {}, p.total_class_hours),
            h("td", {}, `${(p.online_share * 100).toFixed(1)}%`),
            h("td", { class: "small", title: p.clause }, p.online_share_max === null ? t("plans.no_cap") : `${(p.online_share_max * 100).toFixed(0)}%`),
          ),
        ),
        { id: "plans-list" },
      ),
    );
  else planCard.append(h("p", { class: "muted", id: "plans-empty" }, t("plans.empty")));
  if (["operator", "institution", "enterprise"].includes(role) && courses.length) {
    const pc = h("select", { id: "plan-course", "aria-label": t("col.course") }, courses.map((c) => h("option", { value: c.id }, `${c.title} (${c.id})`)));
    const total = h("input", { type: "number", id: "plan-total", min: 1, required: true, "aria-label": t("plans.total") });
    const line = h("div", { "aria-live": "polite", id: "plan-status" });
    const form = h("form", { id: "plan-form" }, h("div", { class: "row wrap" }, pc, total, h("button", { class: "primary", type: "submit", id: "plan-submit" }, t("plans.submit"))), line);
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try {
        await api("POST", "/v1/staff/plans", { course: pc.value, total_class_hours: Number(total.value) });
        await route();
      } catch (e) {
        line.replaceChildren(h("p", { class: "error", role: "alert", id: "plan-error" }, errorText(e), e.message ? h("br") : null, e.message ? h("span", { class: "small" }, e.message) : null));
      }
    });
    planCard.append(form);
  }
  out.append(planCard);
  if (!supervises) return;

  // The bi-weekly district report (R-SV-7) and the quarterly settlement (R-QA-3).
  const date = h("input", { type: "date", id: "district-date", value: today(), "aria-label": t("spot.date") });
  const district = h("div", { id: "district-report" });
  const loadDistrict = async () => {
    try {
      const r = await api("GET", `/v1/staff/district-report?date=${encodeURIComponent(date.value)}`);
      district.replaceChildren(
        h("p", { class: "muted small" }, t("district.period", { from: r.period_from, to: r.period_to, size: r.checkpoint.size })),
        r.lines.length
          ? table(
              ["district.district", "district.registered", "district.registered_in_period", "district.person_times", "district.person_times_in_period", "district.platforms"],
              r.lines.map((l) =>
                h("tr", { "data-district": l.district }, h("td", {}, l.district || t("district.none")), h("td", {}, l.registered_learners), h("td", {}, l.registered_in_period), h("td", {}, l.person_times), h("td", {}, l.person_times_in_period), h("td", {}, l.platforms.join("、") || "—")),
              ),
              { id: "district-lines" },
            )
          : h("p", { class: "muted" }, t("district.empty")),
      );
    } catch (e) {
      district.replaceChildren(errorLine(e));
    }
  };
  date.addEventListener("change", loadDistrict);
  out.append(h("div", { class: "card" }, h("h2", {}, t("district.title")), h("p", {}, h("label", {}, t("spot.date"), " ", date)), district));
  await loadDistrict();

  const q = h("input", { type: "text", id: "settlement-quarter", value: quarterOf(), "aria-label": t("reports.quarter") });
  const settlement = h("div", { id: "settlement" });
  const loadSettlement = async () => {
    try {
      const s = await api("GET", `/v1/staff/settlement?quarter=${encodeURIComponent(q.value.trim())}`);
      settlement.replaceChildren(
        h("p", { class: "muted small" }, t("settlement.checkpoint", { size: s.checkpoint.size })),
        s.lines.length
          ? table(
              ["col.institution", "settlement.level", "settlement.learners", "col.hours", "settlement.rate", "settlement.amount"],
              s.lines.map((l) => h("tr", {}, h("td", {}, l.institution), h("td", {}, l.level), h("td", {}, l.learners), h("td", {}, l.class_hours), h("td", { title: l.clause }, fen(l.rate_fen)), h("td", {}, fen(l.amount_fen)))),
              { id: "settlement-lines" },
            )
          : h("p", { class: "muted" }, t("settlement.empty")),
        h("p", { id: "settlement-total" }, t("settlement.total", { total: fen(s.total_fen), withheld: s.withheld })),
      );
    } catch (e) {
      settlement.replaceChildren(errorLine(e));
    }
  };
  q.addEventListener("change", loadSettlement);
  out.append(h("div", { class: "card" }, h("h2", {}, t("settlement.title")), h("p", {}, h("label", {}, t("reports.quarter"), " ", q)), settlement));
  await loadSettlement();
  out.append(await ledgerCard());
}

/** The tamper-evident log (issue 13, R-SV-4): the newest signed checkpoint, to keep,
 * and the check that today's log extends one kept earlier — computed here, in the
 * browser, from the platform's consistency proof. */
async function ledgerCard() {
  const card = h("div", { class: "card", id: "ledger" }, h("h2", {}, t("ledger.title")), h("p", { class: "muted small" }, t("ledger.how")));
  const r = await fetch("/v1/ledger/checkpoint");
  if (!r.ok) {
    card.append(h("p", { class: "muted", id: "ledger-none" }, t("ledger.none")));
    return card;
  }
  const newest = await r.json();
  const file = new Blob([JSON.stringify(newest)], { type: "application/json" });
  card.append(
    h("p", { id: "ledger-newest" }, t("ledger.newest", { size: newest.size, time: fmtTime(newest.time_ms) })),
    h("p", { class: "small hash", title: newest.root }, `${t("ledger.root")}: ${newest.root}`),
    h("p", {}, h("a", { class: "button", id: "ledger-download", href: URL.createObjectURL(file), download: `keshi-checkpoint-${newest.size}.json` }, t("ledger.download"))),
  );
  const kept = h("input", { type: "file", id: "ledger-kept", accept: "application/json,.json", "aria-label": t("ledger.kept") });
  const result = h("div", { id: "ledger-result", "aria-live": "polite" });
  kept.addEventListener("change", async () => {
    result.replaceChildren(h("p", { class: "muted" }, t("ledger.checking")));
    let old;
    try {
      old = JSON.parse(await kept.files[0].text());
      if (!Number.isInteger(old.size) || typeof old.root !== "string") throw new Error("not a checkpoint");
    } catch {
      result.replaceChildren(h("p", { class: "error", role: "alert", "data-ok": "false" }, t("ledger.not_json")));
      return;
    }
    let ok = false;
    if (old.size <= newest.size) {
      const p = await fetch(`/v1/ledger/consistency?first=${old.size}&second=${newest.size}`);
      if (p.ok) ok = await consistent(old.size, newest.size, old.root, newest.root, (await p.json()).proof).catch(() => false);
    }
    const sigs = await Promise.all([signed(old, old.key), signed(newest, newest.key)]);
    const sameKey = old.key === newest.key;
    const sig = !sameKey || sigs.includes(false) ? "bad" : sigs.includes(null) ? "unknown" : "ok";
    const good = ok && sig !== "bad";
    result.replaceChildren(
      h("p", { class: good ? "okay" : "error", role: good ? "status" : "alert", "data-ok": String(good) }, t(good ? "ledger.ok" : "ledger.bad", { first: old.size, second: newest.size })),
      h("p", { class: "muted small", "data-signatures": sig }, t(`ledger.sig_${sig}`)),
    );
  });
  card.append(h("p", {}, h("label", {}, t("ledger.kept"), " ", kept)), result, h("p", { class: "muted small" }, t("ledger.cli")));
  return card;
}

// ---- institutions and staff (operator) -------------------------------------------
const ROLES = ["institution", "enterprise", "authority", "auditor", "operator"];

async function showOrg(out) {
  out.append(h("h1", {}, t("org.title")));
  const r = await api("GET", "/v1/staff/institutions");
  out.append(
    table(["col.institution", "org.region"], r.institutions.map((i) => h("tr", { "data-institution": i.name }, h("td", {}, i.name), h("td", {}, i.region || "—"))), { id: "institutions" }),
  );
  const instStatus = h("div", { id: "institution-status", "aria-live": "polite" });
  const inst = h(
    "form",
    { class: "card", id: "new-institution" },
    h("h2", {}, t("org.new_institution")),
    h("label", { for: "institution-name" }, t("org.name")),
    h("input", { type: "text", id: "institution-name", required: true }),
    h("label", { for: "institution-region" }, t("org.region")),
    h("input", { type: "text", id: "institution-region", placeholder: "shanxi/taiyuan" }),
    instStatus,
    h("div", { class: "row" }, h("button", { class: "primary", type: "submit", id: "institution-submit" }, t("org.create"))),
  );
  inst.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await api("POST", "/v1/staff/institutions", { name: $("#institution-name").value.trim(), region: $("#institution-region").value.trim() });
      await route();
    } catch (e) {
      instStatus.replaceChildren(errorLine(e));
    }
  });
  const staffStatus = h("div", { id: "account-status", "aria-live": "polite" });
  const acct = h(
    "form",
    { class: "card", id: "new-account" },
    h("h2", {}, t("org.new_account")),
    h("label", { for: "account-user" }, t("login.user")),
    h("input", { type: "text", id: "account-user", required: true, autocomplete: "off" }),
    h("label", { for: "account-role" }, t("org.role")),
    h("select", { id: "account-role" }, ROLES.map((x) => h("option", { value: x }, t(`role.${x}`)))),
    h("label", { for: "account-scope" }, t("org.scope")),
    h("input", { type: "text", id: "account-scope", placeholder: t("org.scope_hint") }),
    h("label", { for: "account-password" }, t("org.password")),
    h("input", { type: "password", id: "account-password", required: true, autocomplete: "new-password", minlength: 8 }),
    staffStatus,
    h("div", { class: "row" }, h("button", { class: "primary", type: "submit", id: "account-submit" }, t("org.create"))),
  );
  acct.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const v = await api("POST", "/v1/staff/accounts", {
        user: $("#account-user").value.trim(),
        role: $("#account-role").value,
        scope: $("#account-scope").value.trim() || "*",
        password: $("#account-password").value,
      });
      acct.reset();
      staffStatus.replaceChildren(h("p", { class: "okay", id: "account-done" }, t("org.account_done", { user: v.user })));
    } catch (e) {
      staffStatus.replaceChildren(errorLine(e));
    }
  });
  out.append(inst, acct);
}

// ---- start -----------------------------------------------------------------------
async function start() {
  await loadLang(state.lang);
  $("#lang").addEventListener("click", async () => {
    await loadLang(state.lang === "zh-CN" ? "en" : "zh-CN");
    localStorage.setItem("keshi-console-lang", state.lang);
    await route();
  });
  $("#logout").addEventListener("click", async () => {
    try {
      await api("POST", "/v1/staff/logout");
    } finally {
      state.session = null;
      location.hash = "";
      showLogin();
    }
  });
  window.addEventListener("hashchange", () => route());
  try {
    state.session = await api("GET", "/v1/staff/session");
  } catch {
    state.session = null;
  }
  await route();
}

start();
