// The main flow again, at phone size (issue 10): a fresh learner in a 360×800
// window (the narrowest phones the UI supports) — sign-in, identity check, courses, studying with counting, the quiz, a
// failed capture, records, the learning proof, resume. Every screen: no horizontal
// scroll, every control a touch target of at least 44 px, no CSP violation, and a
// screenshot (phone-*.png).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { World, sleep } from "./harness.mjs";
import { Flow } from "./flow.mjs";

const WIDTH = 360;
const HEIGHT = 800;

/** @type {World} */
let w;
/** @type {Flow} */
let f;

function scenario(name, steps) {
  test(name, async () => {
    await steps();
    await f.assertLayout(name);
    await f.assertNoCspViolation();
  });
}

before(async () => {
  w = await World.create();
  await w.openApp();
  f = new Flow(w, { phone: true, shots: "phone-" });
  const viewport = await w.resize(WIDTH, HEIGHT);
  assert.equal(
    viewport.width,
    WIDTH,
    `the window did not become ${WIDTH} px wide (viewport ${JSON.stringify(viewport)}): ` +
      "is the window's minWidth in src-tauri/tauri.conf.json above 360?",
  );
});

after(async () => {
  await w?.stop();
});

scenario("phone: sign in, identity check, courses at 0 of 2 class hours", async () => {
  await f.signInAndVerify();
  assert.deepEqual(await f.js(`const p = document.querySelector('article.course progress'); return { value: p.value, max: p.max }`), { value: 0, max: 2 });
  assert.ok((await f.barFill("article.course progress")) < 0.02, "the courses bar is not empty at 0 class hours");
  await f.screen("03-courses");
});

scenario("phone: the video spans the screen, the side panel is below it, time counts", async () => {
  await f.openDemo();
  await f.play();
  await sleep(4000);
  assert.ok((await f.sessionMs()) >= 2000, "no time counted");
  const box = await f.js(`
    const r = (s) => document.querySelector(s).getBoundingClientRect();
    return { stage: r('#stage'), side: r('aside.side'), inner: document.documentElement.clientWidth };`);
  assert.ok(Math.abs(box.stage.width - box.inner) <= 1 && Math.abs(box.stage.left) <= 1, `video not full-width: ${JSON.stringify(box.stage)}`);
  assert.ok(box.side.top >= box.stage.bottom, "the side panel is not below the video");
  await f.screen("04-player-counting");
});

scenario("phone: class hour 1 ends with its quiz", async () => {
  w.camera("astronaut.png");
  await f.studyUntilQuiz(1, 200000);
  await f.screen("07-quiz");
  await f.answerQuiz(w.answers(1));
  await f.waitFor("quiz passed", async () => (await f.attr("#quiz-result", "data-passed")) === "true");
  await f.screen("08-quiz-passed");
  await f.click("#quiz-result-ok");
  await f.waitFor("class hour 1 completed", async () => (await f.attr("#hours-done", "data-done")) === "1");
});

scenario("phone: a failed capture holds playback and says what to do", async () => {
  w.camera("coffee.png");
  await f.play();
  await f.studyUntil("capture failed", () => f.present("#capture-retry"), 200000);
  await f.screen("09-capture-failed");
  w.camera("astronaut.png");
  await f.click("#capture-retry");
  await f.waitFor("capture passed on retry", async () => (await f.attr("#stage", "data-capture")) === "passed" || (await f.counting()), 30000);
});

scenario("phone: records and sync, learning proof", async () => {
  await f.leavePlayer();
  await f.click("#nav-records");
  await f.click("#sync-now");
  await f.waitFor("synced", async () => (await f.attr("#sync-state", "data-state")) === "synced", 60000);
  await f.screen("10-records-synced");
  await f.click("#nav-courses");
  await f.click("#screen-courses button.proof");
  await f.waitFor("learning proof", () => f.present("#proof-verified.ok"));
  await f.screen("11-learning-proof");
});

scenario("phone: reopen the course at the breakpoint", async () => {
  await f.click("#nav-courses");
  await f.openDemo();
  await f.waitFor("resume prompt", () => f.present("#resume-ok"));
  await f.screen("12-resume");
  await f.click("#resume-ok");
  await f.leavePlayer();
});
