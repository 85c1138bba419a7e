// Small pieces several screens use.
import { h } from "./dom";
import { bindAttr, bound, errorText, t, type Key } from "./i18n";

/** A progress bar (<progress>: no inline style, so the CSP cannot blank it). */
export function progressBar(value: number, max: number, label: Key, attrs: Record<string, string> = {}): HTMLProgressElement {
  const bar = h("progress", { class: "bar", ...attrs });
  bindAttr(bar, "aria-label", () => t(label));
  setProgress(bar, value, max);
  return bar;
}

export function setProgress(bar: HTMLProgressElement, value: number, max: number): void {
  bar.max = max > 0 ? max : 1;
  bar.value = Math.max(0, Math.min(value, bar.max));
}

/** An error in the learner's words, kept in the current language. */
export function errorLine(e: unknown, attrs: Record<string, string> = {}): HTMLElement {
  return h("p", { class: "error", role: "alert", ...attrs }, bound(() => errorText(e)));
}
