// Records and sync: how many signed records the platform has acknowledged, where
// sync stands and the last error in plain words, and "sync now". The view follows
// the sync thread's events (kept in the store).
import { api } from "../api";
import { h, on } from "../dom";
import { T, codeText, fmtTime, syncStateText, t, type Key } from "../i18n";
import type { Nav, Screen } from "../route";
import { store } from "../store";
import type { SyncView } from "../bindings/SyncView";
import { errorLine, progressBar, setProgress } from "../widgets";

export async function showRecords(main: HTMLElement, _nav: Nav): Promise<Screen> {
  let view = store.lastSync.get() ?? (await api.syncStatus());
  const bar = progressBar(0, 1, "records.progress", { class: "bar big", id: "sync-progress" });
  const dd = (id?: string) => h("dd", id ? { id } : {});
  const state = dd("sync-state");
  const records = dd("sync-records");
  const acknowledged = dd("sync-acknowledged");
  const queued = dd("sync-queued");
  const sent = dd();
  const lastSynced = dd();
  const lastError = dd("sync-error");
  const row = (label: Key, value: HTMLElement) => [h("dt", {}, T(label)), value];
  const problem = h("div", { id: "sync-problem" });
  const syncNow = h("button", { class: "primary", id: "sync-now" }, T("records.syncNow"));
  main.append(
    h("h1", {}, T("records.title")),
    h(
      "section",
      { class: "card", id: "records" },
      bar,
      h(
        "dl",
        { class: "grid" },
        ...row("records.state", state),
        ...row("records.total", records),
        ...row("records.acknowledged", acknowledged),
        ...row("records.queued", queued),
        ...row("records.sent", sent),
        ...row("records.lastSynced", lastSynced),
        ...row("records.lastError", lastError),
      ),
      syncNow,
      problem,
    ),
  );

  const draw = (s: SyncView) => {
    view = s;
    const total = Number(s.records);
    const ack = Number(s.acknowledged);
    setProgress(bar, total > 0 ? ack : 1, total > 0 ? total : 1);
    state.dataset.state = s.state;
    state.textContent = syncStateText(s.state);
    records.textContent = String(total);
    acknowledged.textContent = String(ack);
    queued.textContent = String(s.queued);
    sent.textContent = String(s.sent);
    lastSynced.textContent = s.lastSyncedMs ? fmtTime(Number(s.lastSyncedMs)) : t("records.none");
    lastError.dataset.code = s.errorCode ?? "";
    lastError.textContent = s.errorCode
      ? s.errorMessage
        ? t("records.errorDetail", { text: codeText(s.errorCode), detail: s.errorMessage })
        : codeText(s.errorCode)
      : t("records.none");
  };
  draw(view);
  const unwatch = store.lastSync.watch((s) => s && draw(s));
  on(syncNow, "click", async () => {
    problem.replaceChildren();
    try {
      draw(await api.syncNow());
    } catch (e) {
      problem.append(errorLine(e));
    }
  });
  return {
    relabel: () => draw(view),
    leave: unwatch,
  };
}
