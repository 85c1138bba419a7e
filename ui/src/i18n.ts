// Strings live in i18n/*.json: Simplified Chinese first, English second.
import zh from "./i18n/zh-CN.json";
import en from "./i18n/en.json";

export type Lang = "zh-CN" | "en";
const tables: Record<Lang, Record<string, string>> = { "zh-CN": zh, en };

let lang: Lang = (localStorage.getItem("keshi.lang") as Lang) === "en" ? "en" : "zh-CN";

export function currentLang(): Lang {
  return lang;
}

export function setLang(l: Lang): void {
  lang = l;
  localStorage.setItem("keshi.lang", l);
  document.documentElement.lang = l;
}

/** Looks `key` up (falling back to Chinese) and fills `{name}` placeholders. */
export function t(key: string, vars: Record<string, string | number> = {}): string {
  const s = tables[lang][key] ?? tables["zh-CN"][key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k: string) => String(vars[k] ?? `{${k}}`));
}

/** An error `{code, message}` in the learner's words. */
export function errorText(e: unknown): string {
  const err = e as { code?: string; message?: string };
  if (err && typeof err.code === "string") {
    const key = `error.${err.code}`;
    if (tables["zh-CN"][key]) return t(key);
    return t("error.unknown", { message: err.message ?? err.code });
  }
  return t("error.unknown", { message: String(e) });
}

/** A reason code (why time did not count) in words. */
export function reasonText(code: string): string {
  const key = `reason.${code}`;
  return tables["zh-CN"][key] ? t(key) : code;
}

export function fmtDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const mm = String(m).padStart(2, "0");
  const ss = String(sec).padStart(2, "0");
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}
