// The app frame: header (brand, tabs, language), the route, and the screen mounted
// for it. A language switch re-labels the page in place and never changes the route.
import { api } from "./api";
import { h, on, clear } from "./dom";
import { T, bound, currentLang, pick, setLang } from "./i18n";
import { errorLine } from "./widgets";
import { tabOf, type Nav, type Route, type Screen } from "./route";
import { info, store } from "./store";
import { showSignIn } from "./screens/signin";
import { showVerify } from "./screens/verify";
import { showCourses } from "./screens/courses";
import { showPlayer } from "./screens/player";
import { showRecords } from "./screens/records";
import { showProof } from "./screens/proof";

export class App implements Nav {
  private route: Route = { screen: "signin" };
  private screen: Screen = {};
  private header: HTMLElement | null = null;
  /** Bumped by every navigation: a screen still loading for an older one is left at once. */
  private seq = 0;

  constructor(private root: HTMLElement) {
    store.info.watch(() => this.drawHeader());
  }

  current(): Route {
    return this.route;
  }

  async refreshInfo(): Promise<void> {
    store.info.set(await api.appInfo());
  }

  async go(route: Route): Promise<void> {
    const seq = ++this.seq;
    const leaving = this.screen;
    this.screen = {};
    try {
      await leaving.leave?.();
    } catch (e) {
      console.warn("leaving the screen failed", e);
    }
    if (seq !== this.seq) return;
    this.route = route;
    clear(this.root);
    this.root.dataset.screen = route.screen;
    this.header = null;
    this.drawHeader();
    const main = h("main", { id: `screen-${route.screen}` });
    this.root.append(main);
    let screen: Screen = {};
    try {
      screen = await this.mount(main, route);
    } catch (e) {
      main.append(errorLine(e));
    }
    if (seq !== this.seq) {
      // The learner went elsewhere while this screen was loading.
      await Promise.resolve(screen.leave?.()).catch(() => undefined);
      return;
    }
    this.screen = screen;
  }

  private mount(main: HTMLElement, route: Route): Promise<Screen> | Screen {
    switch (route.screen) {
      case "signin":
        return showSignIn(main, route, this);
      case "verify":
        return showVerify(main, this);
      case "courses":
        return showCourses(main, this);
      case "player":
        return showPlayer(main, route.courseId, this);
      case "records":
        return showRecords(main, this);
      case "proof":
        return showProof(main, route.courseId, this);
    }
  }

  /** Switches the language in place: the screen keeps its state (a lesson keeps playing). */
  switchLang(): void {
    setLang(currentLang() === "zh-CN" ? "en" : "zh-CN");
    this.screen.relabel?.();
  }

  private drawHeader(): void {
    const i = store.info.get();
    if (!i) return;
    const tab = tabOf(this.route);
    const nav = h("nav", {});
    const tabButton = (id: string, active: boolean, label: HTMLElement, go: () => void) =>
      on(h("button", { class: active ? "tab active" : "tab", id, "aria-current": active ? "page" : undefined }, label), "click", go);
    if (i.signedIn && i.verified) {
      nav.append(
        tabButton("nav-courses", tab === "courses", T("nav.courses"), () => this.go({ screen: "courses" })),
        tabButton("nav-records", tab === "records", T("nav.records"), () => this.go({ screen: "records" })),
      );
    }
    if (i.signedIn) {
      nav.append(
        tabButton("nav-signout", false, T("nav.signout"), async () => {
          await api.signOut().catch(() => undefined);
          await this.refreshInfo();
          await this.go({ screen: "signin" });
        }),
      );
    }
    const header = h(
      "header",
      {},
      h("div", { class: "brand" }, h("span", { class: "logo", "aria-hidden": "true" }, T("app.logo")), bound(() => pick(info().brandZh, info().brandEn))),
      nav,
      on(h("button", { class: "link", id: "lang" }, T("lang.switch")), "click", () => this.switchLang()),
    );
    if (this.header?.isConnected) this.header.replaceWith(header);
    else this.root.prepend(header);
    this.header = header;
  }
}
