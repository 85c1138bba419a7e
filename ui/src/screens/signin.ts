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
  // An account imported without a password: the learner sets one with the ID
  // number and phone on record (shown when the platform says so).
  const idNumber = h("input", { id: "first-id-number", autocomplete: "off", spellcheck: "false" });
  const phone = h("input", { id: "first-phone", type: "tel", autocomplete: "tel" });
  const pass2 = h("input", { id: "first-password-again", type: "password", autocomplete: "new-password" });
  const first = h(
    "fieldset",
    { id: "first-password", hidden: "" },
    h("legend", {}, T("signin.first.title")),
    h("p", { class: "muted small" }, T("signin.first.hint")),
    h("label", {}, T("signin.first.idNumber"), idNumber),
    h("label", {}, T("signin.first.phone"), phone),
    h("label", {}, T("signin.first.again"), pass2),
  );
  const form = h(
    "form",
    { class: "card narrow" },
    h("h1", {}, T("signin.title")),
    route.revoked ? h("p", { class: "error", id: "revoked", role: "alert" }, T("signedOut.revoked")) : null,
    h("p", { class: "muted" }, T("signin.platformAt", { url: i.platformUrl })),
    h("label", {}, T("signin.user"), user),
    h("label", {}, T("signin.password"), pass),
    first,
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
  const firstMode = () => !first.hidden;
  on(form, "submit", async (e) => {
    e.preventDefault();
    setBusy(true);
    error = null;
    msg.textContent = "";
    try {
      if (firstMode()) {
        if (pass.value.length < 8 || pass.value !== pass2.value) throw { code: "first_password_mismatch", message: t("signin.first.mismatch") };
        await api.setFirstPassword(user.value.trim(), idNumber.value.trim(), phone.value.trim(), pass.value);
      } else {
        await api.signIn(user.value.trim(), pass.value);
      }
      await nav.refreshInfo();
      await nav.go({ screen: "verify" });
    } catch (err) {
      const code = (err as { code?: unknown } | null)?.code;
      if (code === "password_not_set") {
        first.hidden = false;
        pass.setAttribute("autocomplete", "new-password");
        idNumber.focus();
      }
      error = code === "first_password_mismatch" ? null : err;
      msg.textContent = code === "first_password_mismatch" ? t("signin.first.mismatch") : errorText(err);
      setBusy(false);
    }
  });
  main.append(form);
  user.focus();
  return {};
}
