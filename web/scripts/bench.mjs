// The dashboard's figures (docs/benchmarks.md), printed, never asserted: run by `make bench`
// through scripts/web-e2e.sh, against the real server and agent, in headless Chromium.
//   1. initial JavaScript, gzipped (what index.html loads before the first render);
//   2. the overview's first render with 1,000 hosts (navigation to the counts showing 1000);
//   3. the log viewer at 100,000 lines: frames per second while scrolling through it;
//   4. the log viewer while 1,000 lines a second arrive: frame gaps and the longest main-thread stall.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { chromium } from "playwright-core";
import { Fleet, until } from "../e2e/fleet.mjs";

const web = join(dirname(fileURLToPath(import.meta.url)), "..");

function initialJs() {
  const index = readFileSync(join(web, "dist/index.html"), "utf8");
  const files = [...index.matchAll(/(?:src|href)="\/(assets\/[^"]+\.js)"/g)].map((m) => m[1]);
  let raw = 0;
  let gzip = 0;
  for (const file of files) {
    const bytes = readFileSync(join(web, "dist", file));
    raw += bytes.length;
    gzip += gzipSync(bytes, { level: 9 }).length;
  }
  return { files: files.length, raw, gzip };
}

const fleet = new Fleet();
let browser;
try {
  const js = initialJs();
  console.log(`initial JS: ${js.files} file(s), ${(js.raw / 1024).toFixed(1)} KiB raw, ${(js.gzip / 1024).toFixed(1)} KiB gzipped (budget 250 KB)`);

  await fleet.startServer();
  const host = await fleet.hostWithAgent("bench-agent");
  // 999 more hosts (not enrolled: the overview renders them all the same).
  for (let i = 1; i < 1000; i += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, 1000 - i) }, (_, k) =>
        fleet.api("POST", `/api/v1/orgs/${fleet.org}/hosts`, { name: `bench-${String(i + k).padStart(4, "0")}` }),
      ),
    );
  }
  browser = await chromium.launch({ executablePath: process.env.GSM_CHROMIUM ?? "/usr/bin/chromium", args: ["--no-sandbox"] });
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(fleet.base + "/login");
  await page.getByLabel("Email").fill(fleet.email);
  await page.getByLabel("Password").fill(fleet.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(/overview$/);

  // 2. A full load of the overview (session restore, /me, every host) until it shows 1000.
  const runs = [];
  for (let run = 0; run < 3; run++) {
    const started = Date.now();
    await page.goto(`${fleet.base}/orgs/${fleet.org}/overview`);
    await until("1000 hosts counted", async () => /Hosts\s*1000\b/.test(await page.getByTestId("overview-counts").innerText()), 30_000);
    runs.push(Date.now() - started);
  }
  console.log(`overview with 1,000 hosts, load to first full render: ${runs.map((ms) => `${ms} ms`).join(", ")} (budget 1 s)`);

  // 3. 100,000 lines, then scroll through them.
  const big = await fleet.api("POST", `/api/v1/orgs/${fleet.org}/jobs`, { host, kind: { type: "command", program: "/usr/bin/seq", args: ["100000"] } });
  await page.goto(`${fleet.base}/orgs/${fleet.org}/jobs/${big.id}`);
  const loadStarted = Date.now();
  await page.getByTestId("log-status").getByText("complete").waitFor({ timeout: 120_000 });
  await page.getByTestId("log-matches").getByText("100000 lines").waitFor({ timeout: 30_000 });
  const loadMs = Date.now() - loadStarted;
  const scroll = await page.evaluate(async () => {
    const el = document.querySelector('[data-testid="log-viewer"]');
    el.scrollTop = 0;
    const frames = [];
    let last = performance.now();
    const started = last;
    await new Promise((resolve) => {
      const tick = (now) => {
        frames.push(now - last);
        last = now;
        el.scrollTop += 400; // 20 rows a frame, the whole list in ~5,000 frames
        if (now - started < 3000) requestAnimationFrame(tick);
        else resolve();
      };
      requestAnimationFrame(tick);
    });
    frames.shift();
    const total = frames.reduce((a, b) => a + b, 0);
    frames.sort((a, b) => a - b);
    return { fps: (frames.length / total) * 1000, p95: frames[Math.floor(frames.length * 0.95)], rows: el.querySelectorAll("[data-line]").length };
  });
  console.log(
    `log viewer, 100,000 lines: loaded in ${loadMs} ms; scrolling ${scroll.fps.toFixed(1)} fps (p95 frame ${scroll.p95.toFixed(1)} ms, ${scroll.rows} rows in the DOM) (budget > 50 fps)`,
  );

  // 4. 1,000 lines a second for 10 s, measured while it streams.
  const flood = await fleet.api("POST", `/api/v1/orgs/${fleet.org}/jobs`, { host, kind: { type: "command", program: join(fleet.dir, "flood.sh"), args: [] } });
  await page.goto(`${fleet.base}/orgs/${fleet.org}/jobs/${flood.id}`);
  await page.getByTestId("log-viewer").getByText("second 1 line", { exact: false }).first().waitFor({ timeout: 30_000 });
  const live = await page.evaluate(async () => {
    const gaps = [];
    let last = performance.now();
    const started = last;
    let longest = 0;
    const observer = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) longest = Math.max(longest, entry.duration);
    });
    try {
      observer.observe({ type: "longtask", buffered: false });
    } catch {
      /* no long-task timing here */
    }
    await new Promise((resolve) => {
      const tick = (now) => {
        gaps.push(now - last);
        last = now;
        if (now - started < 5000) requestAnimationFrame(tick);
        else resolve();
      };
      requestAnimationFrame(tick);
    });
    observer.disconnect();
    gaps.shift();
    const total = gaps.reduce((a, b) => a + b, 0);
    gaps.sort((a, b) => a - b);
    const lines = Number(/(\d+) lines/.exec(document.querySelector('[data-testid="log-matches"]').textContent)?.[1] ?? 0);
    return { fps: (gaps.length / total) * 1000, worst: gaps[gaps.length - 1], longest, lines };
  });
  console.log(
    `log viewer while 1,000 lines/s arrive (5 s): ${live.fps.toFixed(1)} fps, worst frame gap ${live.worst.toFixed(0)} ms, longest task ${live.longest.toFixed(0)} ms, ${live.lines} lines shown by the end`,
  );
} finally {
  await browser?.close();
  fleet.stop();
}
