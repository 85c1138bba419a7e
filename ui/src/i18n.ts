// Strings live in i18n/*.json: Simplified Chinese first, English second. Keys are
// typed from the Chinese file, and the English file must have every one of them
// (tsc checks; `src-tauri/tests/i18n.rs` checks both files against the Rust code
// enums and that their key sets are equal).
//
// Switching language re-renders texts in place: `T()`/`L()`/`bound()` make
// elements that know how to re-label themselves, `setLang` re-labels every one in
// the document, then tells the current screen (which keeps its state: a lesson
// keeps playing, a typed password stays typed).
import zh from "./i18n/zh-CN.json";
import enJson from "./i18n/en.json";
import type { ErrorCode } from "./bindings/ErrorCode";
import type { NotCounting } from "./bindings/NotCounting";
import type { ViolationKind } from "./bindings/ViolationKind";
import type { SyncState } from "./bindings/SyncState";
import type { Level } from "./bindings/Level";
import type { CaptureState } from "./bindings/CaptureState";

export type Key = keyof typeof zh;
const en: Record<Key, string> = enJson;

export type Lang = "zh-CN" | "en";
const tables: Record<Lang, Record<Key, string>> = { "zh-CN": zh, en };

let lang: Lang = localStorage.getItem("keshi.lang") === "en" ? "en" : "zh-CN";

export function currentLang(): Lang {
  return lang;
}

/** A placeholder's value: fixed, or computed at each (re-)labelling. */
export type Var = string | number | (() => string | number);
export type Vars = Record<string, Var>;

/** Looks `key` up and fills `{name}` placeholders. */
export function t(key: Key, vars: Vars = {}): string {
  return tables[lang][key].replace(/\{(\w+)\}/g, (_, k: string) => {
    const v = vars[k];
    if (v === undefined) return `{${k}}`;
    return String(typeof v === "function" ? v() : v);
  });
}

/** The learner's language of a text the core sends in both (a brand, a reason). */
export function pick(zhText: string, enText: string): string {
  return lang === "en" ? enText : zhText;
}

// ---- codes in words: every code the app can receive has a key -----------------

/** An error code (the app's own or the platform's) in the learner's words. */
export function codeText(code: ErrorCode): string {
  const key: Key = `error.${code}`;
  return t(key);
}

/** Why time did not (or does not) count. */
export function reasonText(code: NotCounting | ViolationKind): string {
  const key: Key = `reason.${code}`;
  return t(key);
}

export function syncStateText(s: SyncState): string {
  const key: Key = `sync.${s}`;
  return t(key);
}

export function levelText(l: Level): string {
  const key: Key = `level.${l}`;
  return t(key);
}

export function captureStateText(s: CaptureState): string {
  const key: Key = `capture.${s}`;
  return t(key);
}

function isErrorCode(code: string): code is ErrorCode {
  return Object.prototype.hasOwnProperty.call(zh, `error.${code}`) && code !== "unknown";
}

/** A thrown error `{code, message}` (or anything else) in the learner's words. */
export function errorText(e: unknown): string {
  const err = e as { code?: unknown; message?: unknown } | null;
  if (err && typeof err.code === "string" && isErrorCode(err.code)) return codeText(err.code);
  const message = err && typeof err.message === "string" ? err.message : String(e);
  return t("error.unknown", { message: err && typeof err.code === "string" ? `${err.code}: ${message}` : message });
}

// ---- texts that follow the language --------------------------------------------

const labels = new WeakMap<Element, () => string>();
const attrLabels = new WeakMap<Element, Map<string, () => string>>();

/** Makes `el` show `f()` now and after every language switch. */
export function bindText<E extends HTMLElement>(el: E, f: () => string): E {
  labels.set(el, f);
  el.dataset.i18n = "";
  el.textContent = f();
  return el;
}

/** Makes attribute `name` of `el` follow the language. */
export function bindAttr<E extends HTMLElement>(el: E, name: string, f: () => string): E {
  let m = attrLabels.get(el);
  if (!m) attrLabels.set(el, (m = new Map()));
  m.set(name, f);
  el.dataset.i18nAttr = "";
  el.setAttribute(name, f());
  return el;
}

/** A span showing `t(key, vars)`, kept in the current language. */
export function T(key: Key, vars: Vars = {}): HTMLElement {
  const el = bindText(document.createElement("span"), () => t(key, vars));
  el.dataset.i18n = key;
  return el;
}

/** A span showing a text the core sent in both languages. */
export function L(zhText: string, enText: string): HTMLElement {
  return bindText(document.createElement("span"), () => pick(zhText, enText));
}

/** A span showing `f()`, re-computed after a language switch. */
export function bound(f: () => string): HTMLElement {
  return bindText(document.createElement("span"), f);
}

/** Re-labels every language-bound text and attribute under `root`. */
export function relabel(root: ParentNode = document): void {
  root.querySelectorAll<HTMLElement>("[data-i18n]").forEach((el) => {
    const f = labels.get(el);
    if (f) el.textContent = f();
  });
  root.querySelectorAll<HTMLElement>("[data-i18n-attr]").forEach((el) => {
    attrLabels.get(el)?.forEach((f, name) => el.setAttribute(name, f()));
  });
}

export function setLang(l: Lang): void {
  lang = l;
  localStorage.setItem("keshi.lang", l);
  document.documentElement.lang = l;
  document.title = t("app.title");
  relabel();
}

// ---- numbers and times ----------------------------------------------------------

export function fmtDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const mm = String(m).padStart(2, "0");
  const ss = String(sec).padStart(2, "0");
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

/** A wall-clock time (Unix ms) in the learner's language. */
export function fmtTime(ms: number): string {
  return new Date(ms).toLocaleString(lang);
}
