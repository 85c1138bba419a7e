// End-to-end harness: a real keshi-platform on loopback (SQLite file), a real app
// binary (built with the UI embedded and the `test-camera` feature), driven through
// tauri-driver + WebKitWebDriver in an X server (Xvfb). Nothing is mocked: the app
// signs in over HTTP, plays real H.264 lessons, runs the face detector on real
// photos and writes its signed journal to a real SQLite file.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { inflateSync } from "node:zlib";
import { Builder, By, until } from "selenium-webdriver";

export const ROOT = resolve(import.meta.dirname, "../..");
const TARGET = process.env.CARGO_TARGET_DIR ? resolve(process.env.CARGO_TARGET_DIR) : join(ROOT, "target");
export const APP = process.env.KESHI_E2E_APP ?? join(TARGET, "debug", "keshi-app");
const PLATFORM = join(TARGET, "debug", "keshi-platform");
const KESHI = join(TARGET, "debug", "keshi");
export const SHOTS = process.env.KESHI_E2E_SHOTS ?? join(ROOT, "target", "e2e-screenshots");
const IMAGES = process.env.KESHI_TEST_IMAGES;

const children = [];
process.on("exit", () => children.forEach((c) => c.kill("SIGKILL")));

function must(ok, what) {
  if (!ok) throw new Error(what);
}

/** Runs a command to completion; throws with its stderr on failure. */
export function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: "utf8", ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** Starts a process and resolves with its first stdout line (JSON). */
function startJsonLine(cmd, args, opts) {
  const p = spawn(cmd, args, { stdio: ["ignore", "pipe", "inherit"], ...opts });
  children.push(p);
  return new Promise((res, rej) => {
    const rl = createInterface({ input: p.stdout });
    rl.once("line", (l) => res({ proc: p, line: JSON.parse(l) }));
    p.once("exit", (c) => rej(new Error(`${cmd} exited ${c} before it was ready`)));
  });
}

export class World {
  static async create() {
    must(existsSync(APP), `app binary missing: ${APP} (npx tauri build --debug --no-bundle --features test-camera)`);
    must(IMAGES && existsSync(join(IMAGES, "astronaut.png")), "KESHI_TEST_IMAGES must hold scikit-image's photos");
    const w = new World();
    w.dir = mkdtempSync(join(tmpdir(), "keshi-e2e-"));
    w.home = join(w.dir, "home");
    mkdirSync(join(w.home, "courses"), { recursive: true });
    mkdirSync(SHOTS, { recursive: true });
    w.db = `sqlite:${join(w.dir, "platform.db")}`;
    const { proc, line } = await startJsonLine(PLATFORM, ["serve", "--db", w.db, "--listen", "127.0.0.1:0", "--demo"], {
      env: { ...process.env, RUST_LOG: "warn" },
    });
    w.platform = proc;
    w.url = line.url;
    w.user = line.demo.user;
    w.password = line.demo.password;
    w.learnerId = line.demo.learner_id;
    // The institution publishes the demo course (rendered lessons, the quiz bank with
    // its answer keys) and the demo learner is enrolled in it: the app downloads it
    // after sign-in, without the answer keys (the platform grades). The test knows
    // the answers from the institution's copy, as a well-prepared learner would.
    const inst = join(w.dir, "institution");
    mkdirSync(inst, { recursive: true });
    run(KESHI, ["course", "demo", "--class-hours", "2", "--class-hour-minutes", "2", "--render-media", "--out", join(inst, "course.json")]);
    w.manifest = JSON.parse(readFileSync(join(inst, "course.json"), "utf8"));
    run(PLATFORM, [
      "admin", "publish-course", "--db", w.db, "--institution", line.demo.institution,
      "--manifest", join(inst, "course.json"), "--media", inst, "--profile", "demo", "--json",
    ]);
    w.courseDir = join(w.home, "courses", w.manifest.id);
    w.cameraControl = join(w.dir, "camera.txt");
    w.camera("astronaut.png");
    // The app's window state (tauri-plugin-window-state) and the web view's storage
    // (the language choice) live in XDG directories: one set per world, so a phone-size
    // run or a language switch never leaks into the next run.
    for (const x of ["config", "data", "cache"]) mkdirSync(join(w.dir, "xdg", x), { recursive: true });
    w.env = {
      ...process.env,
      XDG_CONFIG_HOME: join(w.dir, "xdg", "config"),
      XDG_DATA_HOME: join(w.dir, "xdg", "data"),
      XDG_CACHE_HOME: join(w.dir, "xdg", "cache"),
      KESHI_HOME: w.home,
      KESHI_KEYSTORE: "file",
      KESHI_PLATFORM_URL: w.url,
      KESHI_TEST_CAMERA: w.cameraControl,
      RUST_LOG: "info",
    };
    return w;
  }

  /** Points the test camera at one of scikit-image's photos. */
  camera(photo) {
    writeFileSync(this.cameraControl, join(IMAGES, photo));
  }

  /** Right answers of a class hour's quiz, from the manifest. */
  answers(hour) {
    return this.manifest.quizzes.find((q) => q.class_hour === hour).questions.map((q) => q.answer);
  }

  /** Starts tauri-driver and a WebDriver session on the app. */
  async openApp() {
    const port = 4444 + Math.floor(Math.random() * 2000);
    const driverBin = join(ROOT, "node_modules", ".bin", "tauri-driver");
    this.tauriDriver = spawn(driverBin, ["--port", String(port), "--native-driver", "/usr/bin/WebKitWebDriver", "--native-port", String(port + 1)], {
      env: this.env,
      stdio: ["ignore", "inherit", "inherit"],
    });
    children.push(this.tauriDriver);
    for (let i = 0; i < 100; i++) {
      try {
        const r = await fetch(`http://127.0.0.1:${port}/status`);
        if (r.ok) break;
      } catch {
        /* not up yet */
      }
      await sleep(100);
    }
    const t0 = Date.now();
    this.driver = await new Builder()
      .usingServer(`http://127.0.0.1:${port}/`)
      .withCapabilities({ browserName: "wry", "tauri:options": { application: APP } })
      .build();
    await this.driver.wait(until.elementLocated(By.css("header .brand")), 30000);
    this.startMs = Date.now() - t0;
    return this.driver;
  }

  async closeApp() {
    if (this.driver) await this.driver.quit().catch(() => undefined);
    this.driver = null;
    if (this.tauriDriver) {
      this.tauriDriver.kill("SIGTERM");
      await new Promise((r) => this.tauriDriver.once("exit", r));
      this.tauriDriver = null;
    }
    // The app exits with its WebDriver session; wait for it (and so for the journal
    // and the single-instance name) to be released, asking it to stop if it lingers.
    for (let i = 0; i < 100 && appRunning(); i++) await sleep(100);
    for (const pid of appPids()) {
      try {
        process.kill(pid, "SIGTERM");
      } catch {
        /* already gone */
      }
    }
    for (let i = 0; i < 100 && appRunning(); i++) await sleep(100);
  }

  async stop() {
    await this.closeApp();
    this.platform?.kill("SIGTERM");
  }

  async shot(name) {
    const png = await this.driver.takeScreenshot();
    writeFileSync(join(SHOTS, `${name}.png`), Buffer.from(png, "base64"));
  }

  /** Resizes the app's window (WebDriver Set Window Rect); resolves with the page's viewport. */
  /**
   * Resizes the window and answers the page's viewport once it took the new width.
   * X applies a resize asynchronously: the page may report the old size for a moment,
   * so the size is polled (and asked for again once) for up to 10 s.
   */
  async resize(width, height) {
    const viewport = () => this.driver.executeScript("return { width: window.innerWidth, height: window.innerHeight }");
    const t0 = Date.now();
    let asked = 0;
    let v;
    while (Date.now() - t0 < 10000) {
      if (asked === 0 || (asked === 1 && Date.now() - t0 > 3000)) {
        await this.driver.manage().window().setRect({ width, height });
        asked += 1;
      }
      v = await viewport();
      if (v.width === width) return v;
      await sleep(200);
    }
    return v;
  }

  /** The platform's own view of the learner (re-derived credit, records). */
  platformSummary() {
    return JSON.parse(run(PLATFORM, ["admin", "records", "--db", this.db, "--learner", this.user, "--json"]));
  }
}

/** Process ids of running copies of the app binary under test (by its full path). */
export function appPids() {
  const r = spawnSync("pgrep", ["-f", APP], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.split("\n").filter(Boolean).map(Number) : [];
}

export function appRunning() {
  return appPids().length > 0;
}

/** Decodes an 8-bit RGB/RGBA, non-interlaced PNG (what WebDriver screenshots are). */
export function decodePng(buf) {
  must(buf.toString("latin1", 1, 4) === "PNG", "not a PNG");
  let off = 8;
  let width = 0;
  let height = 0;
  let bpp = 0;
  const idat = [];
  while (off < buf.length) {
    const len = buf.readUInt32BE(off);
    const type = buf.toString("latin1", off + 4, off + 8);
    const data = buf.subarray(off + 8, off + 8 + len);
    if (type === "IHDR") {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      must(data[8] === 8 && (data[9] === 2 || data[9] === 6) && data[12] === 0, `unsupported PNG (depth ${data[8]}, colour ${data[9]}, interlace ${data[12]})`);
      bpp = data[9] === 6 ? 4 : 3;
    } else if (type === "IDAT") idat.push(data);
    else if (type === "IEND") break;
    off += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * bpp;
  const px = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const src = y * (stride + 1) + 1;
    const row = y * stride;
    for (let x = 0; x < stride; x++) {
      const a = x >= bpp ? px[row + x - bpp] : 0;
      const b = y > 0 ? px[row - stride + x] : 0;
      const c = x >= bpp && y > 0 ? px[row - stride + x - bpp] : 0;
      let v = raw[src + x];
      if (filter === 1) v += a;
      else if (filter === 2) v += b;
      else if (filter === 3) v += (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      px[row + x] = v & 0xff;
    }
  }
  return { width, height, rgb: (x, y) => [px[y * stride + x * bpp], px[y * stride + x * bpp + 1], px[y * stride + x * bpp + 2]] };
}

export { By, until, sleep };
