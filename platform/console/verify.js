// The public certificate check (issue 13, R-AS-6): anyone holding a Keshi
// certificate — the PDF, or the text of its QR code — asks this platform whether it
// is one it issued, unaltered, and still standing. The platform verifies the
// signatures with its own key (the same checks as `keshi verify-certificate`) and
// looks the serial up. No sign-in; texts from the console's i18n files.

import { $, h } from "/console/dom.js";

const state = { lang: localStorage.getItem("keshi-console-lang") || "zh-CN", dict: {} };

function t(key, vars = {}) {
  const s = state.dict[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => (vars[k] === undefined ? `{${k}}` : String(vars[k])));
}

async function loadLang(lang) {
  state.dict = await (await fetch(`/console/i18n/${lang}.json`)).json();
  state.lang = lang;
  document.documentElement.lang = lang;
  document.title = t("verify.title");
  $("#lang").textContent = t("lang.switch");
}

let last = null;

function verdict(r) {
  const out = h("div", { id: "verify-result", class: `card ${r.valid ? "ok" : "bad"}`, "data-valid": String(r.valid), "data-standing": r.standing || "" });
  if (!r.valid) {
    out.append(h("h2", { class: "error" }, t("verify.invalid")), h("p", { id: "verify-why", "data-code": r.code }, t(`verify.code.${r.code}`) !== `verify.code.${r.code}` ? t(`verify.code.${r.code}`) : r.message));
    return out;
  }
  const s = r.statement;
  out.append(
    h("h2", {}, r.standing === "issued" ? t("verify.valid") : t(`verify.standing.${r.standing}`)),
    h(
      "dl",
      {},
      [
        ["verify.serial", s.serial],
        ["verify.name", s.name],
        ["verify.id_number", s.id_number_masked],
        ["verify.institution", s.institution],
        ["verify.course", `${s.course_title} (${s.course_id})`],
        ["verify.level", s.level],
        ["verify.hours", s.class_hours],
        ["verify.score", s.score],
        ["verify.issued", s.issued_date],
        ["verify.checkpoint", `${s.checkpoint_size} · ${s.checkpoint_root.slice(0, 16)}…`],
      ].map(([k, v]) => [h("dt", {}, t(k)), h("dd", { "data-field": k.slice(7) }, v)]),
    ),
  );
  return out;
}

async function check(body) {
  const r = await fetch("/v1/verify", { method: "POST", body, headers: { "Content-Type": "application/octet-stream" } });
  const json = await r.json().catch(() => ({ valid: false, code: "network", message: `HTTP ${r.status}` }));
  if (!r.ok && json.valid === undefined) return { valid: false, code: json.code || "network", message: json.message || `HTTP ${r.status}` };
  return json;
}

function draw() {
  const main = $("#main");
  const text = h("textarea", { id: "verify-text", rows: 4, placeholder: "KESHI-CERT…", "aria-label": t("verify.text") });
  const file = h("input", { type: "file", id: "verify-file", accept: ".pdf,application/pdf", "aria-label": t("verify.file") });
  const out = h("div", { id: "verify-out", "aria-live": "polite" }, last ? verdict(last) : null);
  const run = async (body) => {
    out.replaceChildren(h("p", { class: "muted" }, t("verify.checking")));
    last = await check(body);
    out.replaceChildren(verdict(last));
  };
  const form = h(
    "form",
    { class: "card", id: "verify-form" },
    h("p", {}, t("verify.how")),
    h("label", { for: "verify-file" }, t("verify.file")),
    file,
    h("label", { for: "verify-text" }, t("verify.text")),
    text,
    h("div", { class: "row" }, h("button", { class: "primary", type: "submit", id: "verify-submit" }, t("verify.submit"))),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (file.files.length) await run(await file.files[0].arrayBuffer());
    else if (text.value.trim()) await run(text.value.trim());
  });
  main.replaceChildren(h("section", { id: "screen-verify" }, h("h1", {}, t("verify.title")), form, out));
}

async function start() {
  await loadLang(state.lang);
  $("#lang").addEventListener("click", async () => {
    await loadLang(state.lang === "zh-CN" ? "en" : "zh-CN");
    localStorage.setItem("keshi-console-lang", state.lang);
    draw();
  });
  draw();
}

start();
