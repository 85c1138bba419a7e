// A small store: app info (brand, signed in, verified) and the last sync view
// (the sync thread pushes one every round; the records screen shows the latest).
import type { AppInfo } from "./bindings/AppInfo";
import type { SyncView } from "./bindings/SyncView";

/** A value with watchers. */
export class Cell<T> {
  private watchers = new Set<(v: T) => void>();
  constructor(private value: T) {}

  get(): T {
    return this.value;
  }

  set(v: T): void {
    this.value = v;
    this.watchers.forEach((f) => f(v));
  }

  /** Calls `f` on every change; returns the function that stops it. */
  watch(f: (v: T) => void): () => void {
    this.watchers.add(f);
    return () => {
      this.watchers.delete(f);
    };
  }
}

export const store = {
  info: new Cell<AppInfo | null>(null),
  lastSync: new Cell<SyncView | null>(null),
};

/** App info; the app loads it before the first screen. */
export function info(): AppInfo {
  const i = store.info.get();
  if (!i) throw new Error("app info not loaded");
  return i;
}
