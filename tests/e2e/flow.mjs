// What a learner does in the app, as WebDriver steps, and the checks every screen
// must pass. Shared by the desktop scenarios (app.test.mjs) and the phone-size run
// (phone.test.mjs).
import assert from "node:assert/strict";
import { By, until, sleep, decodePng } from "./harness.mjs";

/** Smallest touch target on phones (WCAG 2.5.5, Apple HIG). */
export const TOUCH_PX = 44;

export class Flow {
  /** @param {import("./harness.mjs").World} w */
  constructor(w, { phone = false, shots = "" } = {}) {
    this.w = w;
    this.phone = phone;
    this.prefix = shots;
  }

  get d() {
    return this.w.driver;
  }

  $(css) {
    return this.d.findElement(By.css(css));
  }

  js(script, ...args) {
    return this.d.executeScript(script, ...args);
  }

  async attr(css, name) {
    return (await this.$(css)).getAttribute(name);
  }

  /** Clicks `css` once it is on screen (a screen renders after its data arrives). */
  async click(css) {
    const el = await this.d.wait(until.elementLocated(By.css(css)), 10000, `no ${css} within 10 s`);
    return el.click();
  }

  async text(css) {
    return (await this.$(css)).getText();
  }

  present(css) {
    return this.js(`return !!document.querySelector(${JSON.stringify(css)})`);
  }

  async waitFor(what, f, timeoutMs = 30000) {
    const t0 = Date.now();
    let last;
    while (Date.now() - t0 < timeoutMs) {
      try {
        last = await f();
        if (last) return last;
      } catch (e) {
        last = e;
      }
      await sleep(200);
    }
    throw new Error(`timed out waiting for ${what} (last: ${last})`);
  }

  // ---- what the player shows ------------------------------------------------------
  async sessionMs() {
    return Number(await this.attr("#session-counted", "data-ms"));
  }

  async totalMs() {
    return Number(await this.attr("#total-counted", "data-ms"));
  }

  violations(code) {
    return this.js(`return document.querySelectorAll('#violations li[data-code="${code}"]').length`);
  }

  async counting() {
    return (await this.attr("#counting", "data-counting")) === "true";
  }

  /** The video's position on the course timeline (ms), as the page shows it. */
  coursePos() {
    return this.js(
      `const t = document.getElementById('time').textContent.split('/')[0].trim().split(':').map(Number); return (t.length === 3 ? t[0]*3600 + t[1]*60 + t[2] : t[0]*60 + t[1]) * 1000;`,
    );
  }

  // ---- checks every screen passes -------------------------------------------------------
  /** CSP violations the page recorded (`window.__keshiCsp`, set up by ui/src/csp.ts). */
  cspViolations() {
    return this.js("return window.__keshiCsp ? window.__keshiCsp.slice() : null");
  }

  async assertNoCspViolation() {
    const v = await this.cspViolations();
    assert.ok(Array.isArray(v), "the page does not record CSP violations (window.__keshiCsp missing)");
    assert.deepEqual(v, [], `CSP violations: ${JSON.stringify(v)}`);
  }

  /** No horizontal scroll; on phones every visible control is a touch target. */
  async assertLayout(where) {
    const m = await this.js("return { scroll: document.documentElement.scrollWidth, inner: window.innerWidth }");
    assert.ok(m.scroll <= m.inner, `${where}: horizontal scroll (scrollWidth ${m.scroll} > innerWidth ${m.inner})`);
    if (!this.phone) return;
    const small = await this.js(`
      const targets = document.querySelectorAll('button, input:not([type=radio]):not([type=checkbox]):not([type=hidden]), select, textarea, a[href], label.option, [role=slider]');
      return [...targets]
        .filter((e) => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden')
        .map((e) => { const r = e.getBoundingClientRect(); return { what: e.id || e.className || e.tagName, w: Math.round(r.width), h: Math.round(r.height) }; })
        .filter((x) => x.w < ${TOUCH_PX} || x.h < ${TOUCH_PX});`);
    assert.deepEqual(small, [], `${where}: touch targets under ${TOUCH_PX} px: ${JSON.stringify(small)}`);
  }

  /** Checks the screen (layout, CSP) and saves its screenshot. */
  async screen(name) {
    await this.painted();
    await this.assertLayout(name);
    await this.assertNoCspViolation();
    await this.w.shot(`${this.prefix}${name}`);
  }

  /** Resolves once the page has painted what the DOM holds now (a screenshot taken
   * right after a screen change can otherwise show the previous frame). */
  async painted() {
    await this.d.executeAsyncScript("const done = arguments[arguments.length - 1]; requestAnimationFrame(() => requestAnimationFrame(() => done(true)));");
    await sleep(250);
  }

  /**
   * Share of a progress bar drawn in the fill colour, read from the pixels of the
   * page's screenshot across the bar's middle row. (WebKitWebDriver's element
   * screenshot of a <progress> comes back black, so the page is cropped instead.)
   */
  async barFill(css) {
    await this.js(`document.querySelector(${JSON.stringify(css)}).scrollIntoView({ block: "center" })`);
    await this.painted();
    const r = await this.js(
      `const r = document.querySelector(${JSON.stringify(css)}).getBoundingClientRect(); return { x: r.left, y: r.top, w: r.width, h: r.height, dpr: window.devicePixelRatio || 1 }`,
    );
    const png = decodePng(Buffer.from(await this.d.takeScreenshot(), "base64"));
    const y = Math.min(png.height - 1, Math.floor((r.y + r.h / 2) * r.dpr));
    const x0 = Math.max(0, Math.ceil(r.x * r.dpr));
    const x1 = Math.min(png.width, Math.floor((r.x + r.w) * r.dpr));
    assert.ok(x1 - x0 > 10, `${css} is not on screen: ${JSON.stringify(r)}`);
    let blue = 0;
    for (let x = x0; x < x1; x++) {
      const [red, green, b] = png.rgb(x, y);
      if (b > 180 && red < 120 && b - red > 100 && b - green > 60) blue++;
    }
    return blue / (x1 - x0);
  }

  // ---- what the learner does -------------------------------------------------------
  /** Signs in (if asked to) and passes the liveness check; screenshots both screens. */
  async signInAndVerify({ shots = true } = {}) {
    await this.waitFor("verify or sign-in screen", () => this.present("#screen-signin, #screen-verify"));
    if (await this.present("#screen-signin")) {
      await (await this.$("#user")).sendKeys(this.w.user);
      await (await this.$("#password")).sendKeys(this.w.password);
      if (shots) await this.screen("01-sign-in");
      await this.click("#signin-submit");
    }
    await this.waitFor("challenge", () => this.present("#challenge"));
    await this.waitFor("camera preview", () => this.js(`return (document.getElementById('preview').src || '').startsWith('data:image/jpeg')`));
    if (shots) await this.screen("02-identity-check");
    await this.click("#verify-start");
    await this.waitFor("liveness passed", () => this.present("#verify-passed"), 60000);
    await this.click("#verify-continue");
    await this.waitFor("course list", () => this.present("#screen-courses"));
    // The first time, the course comes from the platform (issue 12): download it.
    await this.waitFor("the platform's courses", () => this.present("#platform-courses article, #platform-none, #platform-offline"), 30000);
    if (!(await this.present("#screen-courses article.course"))) {
      await this.click("#platform-courses button.download");
      if (shots) {
        await this.waitFor("download progress", () => this.present("#platform-courses progress:not([hidden])"), 10000).catch(() => {});
        await this.screen("03a-course-download");
      }
      await this.waitFor("downloaded course", () => this.present("#screen-courses article.course"), 120000);
    }
  }

  async openDemo() {
    await this.click("#screen-courses button.study");
    await this.waitFor("player", () => this.present("#video"));
    await this.waitFor("video ready", () => this.js(`return document.getElementById('video').readyState >= 1`));
  }

  async play() {
    if (await this.present("#resume-ok")) await this.click("#resume-ok");
    await this.js(`const v = document.getElementById('video'); if (v.paused) document.getElementById('play').click();`);
    await this.waitFor("counting", () => this.counting(), 15000);
  }

  /**
   * Plays on as an active learner (real pointer input, as a person moving the mouse;
   * "are you still there?" answered; playback resumed when no dialog holds it) until
   * `done()` holds.
   */
  async studyUntil(what, done, timeoutMs) {
    await this.waitFor(
      what,
      async () => {
        if (await this.present("#resume-ok")) await this.click("#resume-ok");
        if (await done()) return true;
        if (await this.present("#idle-ok")) await this.click("#idle-ok");
        // The end came with parts not counted (played while unfocused or idle): the
        // random capture moment may lie in what is left, so watch those parts again.
        if (await this.present("#ended-rewatch")) await this.click("#ended-rewatch");
        await this.d.actions().move({ origin: await this.$("#stage"), x: Math.floor(Math.random() * 20), y: 5 }).perform();
        await this.js(`const v = document.getElementById('video'); if (v.paused && !document.querySelector('.overlay:not(.hidden)')) v.play();`);
        return false;
      },
      timeoutMs,
    );
  }

  /**
   * Leaves the player as a learner would: an "are you still there?", resume, quiz
   * awaiting-grading or quiz-result prompt is answered; a dialog that holds the lesson (a quiz that came due, a failed
   * capture — the hour's random capture moment can fall a second before its end) is
   * left by its own way out, which answers nothing; otherwise the back button.
   */
  async leavePlayer() {
    for (const prompt of ["#idle-ok", "#resume-ok", "#quiz-awaiting-ok", "#quiz-result-ok"]) if (await this.present(prompt)) await this.click(prompt);
    // The course may have played to its end on a slow run: its dialog has a way out.
    const out = ["#quiz-leave", "#capture-leave", "#ended-back"];
    for (const o of out) {
      if (await this.present(o)) {
        console.log(`leaving the player by ${o}`);
        await this.click(o);
        // Every way out leaves the player (its back button goes with it).
        await this.waitFor("course list", () => this.present("#screen-courses"));
        return;
      }
    }
    if (await this.present("#player-back")) {
      const kind = await this.js(`const o = document.querySelector('.overlay:not(.hidden)'); return o ? (o.dataset.kind || 'unnamed') : ''`);
      assert.equal(kind, "", "a dialog with no way out covers the player");
      await this.click("#player-back");
    }
    await this.waitFor("course list", () => this.present("#screen-courses"));
  }

  /** Plays until the quiz of `hour` is due, answering captures with the current photo. */
  studyUntilQuiz(hour, timeoutMs) {
    return this.studyUntil(`quiz of hour ${hour}`, () => this.present(`#quiz[data-hour="${hour}"]`), timeoutMs);
  }

  /** Answers the quiz on screen: option index per question. */
  async answerQuiz(answers) {
    for (let i = 0; i < answers.length; i++) await this.click(`#quiz fieldset:nth-of-type(${i + 1}) input[data-option="${answers[i]}"]`);
    await this.click("#quiz-submit");
  }
}
