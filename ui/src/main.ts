// Keshi learner UI. It holds no rule: it shows what the shell (player-core) decides
// and reports what the learner does. One module per screen (`screens/`), a typed
// route (`route.ts`), a small store (`store.ts`), texts from `i18n/`.
import "./csp"; // first: record any CSP violation from the start
import { events } from "./api";
import { App } from "./app";
import { currentLang, errorText, setLang } from "./i18n";
import { store } from "./store";

async function boot(): Promise<void> {
  const root = document.getElementById("app");
  if (!root) throw new Error("no #app element");
  setLang(currentLang());
  const app = new App(root);
  await app.refreshInfo();
  await events.sync((s) => store.lastSync.set(s));
  await events.signedOut(async () => {
    await app.refreshInfo();
    await app.go({ screen: "signin", revoked: true });
  });
  const i = store.info.get();
  if (!i?.signedIn) await app.go({ screen: "signin" });
  else if (!i.verified) await app.go({ screen: "verify" });
  else await app.go({ screen: "courses" });
}

boot().catch((e) => {
  const root = document.getElementById("app");
  if (root) root.textContent = errorText(e);
});
