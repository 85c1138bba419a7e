// Sign-in at the institution's platform; the device key is enrolled there.
import { api } from "../api";
import { h, on } from "../dom";
import { T, bindText, errorText, pick, t } from "../i18n";
import type { Nav, Route, Screen } from "../route";
import { info } from "../store";

export function showSignIn(main: HTMLElement, route: Extract<Route, { screen: "signin" }>, nav: Nav): Screen {
  const i = info();
  const user = h("input", { id: "user", name: "user", autocomplete: "username", autocapitalize: "none", spellcheck: "false", required: true });
  const pass = h("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const msg = h("p", { class: "error", id: "signin-error", role: "alert" });
  let busy = false;
  let error: unknown = null;
  const button = bindText(h("button", { class: "primary", id: "signin-submit", type: "submit" }), () => t(busy ? "signin.busy" : "signin.submit"));
  bindText(msg, () => (error === null ? "" : errorText(error)));
  const form = h(
    "form",
    { class: "card narrow" },
    h("h1", {}, T("signin.title")),
    route.revoked ? h("p", { class: "error", id: "revoked", role: "alert" }, T("signedOut.revoked")) : null,
    h("p", { class: "muted" }, T("signin.platformAt", { url: i.platformUrl })),
    h("label", {}, T("signin.user"), user),
    h("label", {}, T("signin.password"), pass),
    button,
    msg,
    h("p", { class: "muted small" }, T("signin.profile", { profile: () => pick(i.profileZh, i.profileEn) })),
    h("p", { class: "muted small mono" }, T("signin.device", { device: i.deviceId })),
  );
  const setBusy = (b: boolean) => {
    busy = b;
    button.toggleAttribute("disabled", b);
    button.textContent = t(b ? "signin.busy" : "signin.submit");
  };
  on(form, "submit", async (e) => {
    e.preventDefault();
    setBusy(true);
    error = null;
    msg.textContent = "";
    try {
      await api.signIn(user.value.trim(), pass.value);
      await nav.refreshInfo();
      await nav.go({ screen: "verify" });
    } catch (err) {
      error = err;
      msg.textContent = errorText(err);
      setBusy(false);
    }
  });
  main.append(form);
  user.focus();
  return {};
}
