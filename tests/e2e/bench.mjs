// App performance figures (issue 6), written to target/bench-app.json:
// - cold start to interactive: app spawn → the sign-in form usable (WebDriver);
// - resident memory while playing: PSS summed over the app's process tree
//   (shell + WebKit web/network processes), sampled every second for 60 s;
// - CPU of the shell + core while playing (the keshi-app process only; video
//   decoding runs in WebKit's web process and is reported separately).
// Run: xvfb-run -a dbus-run-session -- node tests/e2e/bench.mjs   (see BENCHMARKS.md)
import { readFileSync, writeFileSync, readdirSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { World, By, sleep, APP, ROOT } from "./harness.mjs";

const TICK = 100; // USER_HZ on Linux
function children(pid) {
  const out = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) out.push(Number(d), ...children(Number(d)));
    } catch {
      /* gone */
    }
  }
  return out;
}
const pss = (pid) => {
  try {
    const m = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8").match(/^Pss:\s+(\d+) kB/m);
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
};
const cpuTicks = (pid) => {
  const s = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
  return Number(f[11]) + Number(f[12]);
};
const name = (pid) => readFileSync(`/proc/${pid}/comm`, "utf8").trim();

const w = await World.create();
const starts = [];
for (let i = 0; i < 3; i++) {
  await w.openApp();
  starts.push(w.startMs);
  if (i < 2) await w.closeApp();
}
const d = w.driver;
const $ = (css) => d.findElement(By.css(css));
const present = (css) => d.executeScript(`return !!document.querySelector(${JSON.stringify(css)})`);
async function waitFor(f, ms = 60000) {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if (await f().catch(() => false)) return;
    await sleep(200);
  }
  throw new Error("timeout");
}
await (await $("#user")).sendKeys(w.user);
await (await $("#password")).sendKeys(w.password);
await (await $("#signin-submit")).click();
await waitFor(() => present("#verify-start"));
await (await $("#verify-start")).click();
await waitFor(() => present("#verify-continue"));
await (await $("#verify-continue")).click();
await waitFor(() => present("button.study"));
await (await $("button.study")).click();
await waitFor(() => present("#video"));
await d.executeScript(`document.getElementById('play').click()`);
await waitFor(() => d.executeScript(`return document.getElementById('counting').dataset.counting === 'true'`));

const app = Number(execFileSync("pgrep", ["-n", "-f", APP], { encoding: "utf8" }).trim());
const tree = () => [app, ...children(app)];
const t0 = Date.now();
const shell0 = cpuTicks(app);
const web0 = Object.fromEntries(tree().map((p) => [p, cpuTicks(p)]));
let peak = 0;
const samples = [];
for (let i = 0; i < 60; i++) {
  await sleep(1000);
  const kb = tree().reduce((a, p) => a + pss(p), 0);
  samples.push(kb);
  peak = Math.max(peak, kb);
  if (await present("#idle-ok")) await (await $("#idle-ok")).click();
}
const secs = (Date.now() - t0) / 1000;
const shellCpu = (cpuTicks(app) - shell0) / TICK / secs;
const others = tree()
  .filter((p) => p !== app)
  .map((p) => ({ process: name(p), cpu: (cpuTicks(p) - (web0[p] ?? 0)) / TICK / secs, pss_mb: pss(p) / 1024 }));
const credited = Number(await d.executeScript(`return document.getElementById('session-counted').dataset.ms`));
await w.stop();
const result = {
  app: APP,
  build: APP.includes("/release/") ? "release" : "debug (test-camera)",
  cold_start_ms: starts,
  playing_seconds: secs,
  credited_ms_while_measured: credited,
  pss_mb_mean: samples.reduce((a, b) => a + b, 0) / samples.length / 1024,
  pss_mb_peak: peak / 1024,
  shell_core_cpu_share_of_one_core: shellCpu,
  other_processes: others,
};
writeFileSync(`${ROOT}/target/bench-app.json`, JSON.stringify(result, null, 2));
console.log(JSON.stringify(result, null, 2));
process.exit(0);
