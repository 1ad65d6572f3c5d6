// The web app's benchmarks (not tests: they assert nothing, they measure):
//   bundle   the built app's JS and CSS, raw and gzip;
//   tti      time to interactive of the jobs page with 20 jobs, first
//            visit (empty cache) and return visit, in Debian's chromium;
//   upload   a 256 MiB upload through the browser (the app's way: XHR PUT
//            to the presigned URL) against curl to the same kind of URL.
// Run by .ci/bench-web, which starts the servers; prints a Markdown table.

import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { chromium } from "playwright-core";

const BASE = process.env.CUTROOM_URL;
const WHAT = process.argv[2];
const UPLOAD_MIB = Number(process.env.BENCH_UPLOAD_MIB ?? 256);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (x, d = 0) => x.toFixed(d);

async function api(method, path, token, body) {
  const r = await fetch(BASE + path, {
    method,
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
  return r.status === 204 ? null : r.json();
}

function launch(extra = []) {
  return chromium.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", ...extra],
  });
}

function bundle() {
  const dir = new URL("../dist/assets/", import.meta.url);
  const rows = [];
  for (const ext of ["js", "css"]) {
    const files = readdirSync(dir).filter((f) => f.endsWith(`.${ext}`));
    const raw = files.reduce((n, f) => n + readFileSync(new URL(f, dir)).length, 0);
    const gz = files.reduce((n, f) => n + gzipSync(readFileSync(new URL(f, dir)), { level: 9 }).length, 0);
    rows.push(`| ${ext.toUpperCase()} (${files.length} file${files.length > 1 ? "s" : ""}) | ${fmt(raw / 1024, 1)} KiB | ${fmt(gz / 1024, 1)} KiB |`);
  }
  console.log("| built app | raw | gzip -9 |\n|---|---|---|\n" + rows.join("\n"));
}

async function tti() {
  const browser = await launch();
  const context = await browser.newContext({ baseURL: BASE });
  const page = await context.newPage();
  const email = `bench-${Date.now()}@example.org`;
  await page.goto("/signup");
  await page.getByLabel("Your name").fill("Bench");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill("correct horse battery");
  await page.getByLabel("Organisation").fill("Bench");
  await page.getByRole("button", { name: "Sign up" }).click();
  await page.getByRole("heading", { name: "Jobs", level: 1 }).waitFor();
  // 20 jobs for the list (the bench server runs no worker: they stay queued).
  const { access_token: token } = await api("POST", "/v1/auth/login", null, { email, password: "correct horse battery" });
  for (let i = 0; i < 20; i++)
    await api("POST", "/v1/jobs", token, { source: { type: "youtube", url: `https://youtu.be/dQw4w9WgXc${String.fromCharCode(65 + i)}` } });
  // Interactive: the 20 rows are on screen (the app renders them once the
  // session is restored, /v1/me and /v1/jobs answered, and handlers bound).
  await context.addInitScript(() => {
    new MutationObserver((_, obs) => {
      if (document.querySelectorAll("tr[data-job]").length >= 20) {
        window.__interactive = performance.now();
        obs.disconnect();
      }
    }).observe(document, { subtree: true, childList: true });
  });
  const cdp = await context.newCDPSession(page);
  const measure = async (cold) => {
    if (cold) await cdp.send("Network.clearBrowserCache");
    await page.goto("/jobs");
    await page.waitForFunction(() => window.__interactive !== undefined);
    return page.evaluate(() => {
      const nav = performance.getEntriesByType("navigation")[0];
      return { tti: window.__interactive, dcl: nav.domContentLoadedEventEnd, bytes: nav.transferSize };
    });
  };
  await measure(false);
  const cold = [];
  const warm = [];
  for (let i = 0; i < RUNS; i++) {
    cold.push(await measure(true));
    warm.push(await measure(false));
  }
  await browser.close();
  console.log("| jobs page, 20 jobs | DOMContentLoaded | interactive (rows on screen) |\n|---|---|---|");
  for (const [name, xs] of [["first visit (cache cleared)", cold], ["return visit", warm]])
    console.log(`| ${name} | ${fmt(median(xs.map((x) => x.dcl)))} ms | ${fmt(median(xs.map((x) => x.tti)))} ms |`);
}

/** Creates an upload of `size` bytes; returns its presigned PUT. */
async function presign(token, size) {
  return api("POST", "/v1/uploads", token, { filename: "bench.mp4", content_type: "video/mp4", size_bytes: size });
}

async function upload(label) {
  const size = UPLOAD_MIB * 1024 * 1024;
  const email = `upload-${Date.now()}@example.org`;
  const { access_token: token } = await api("POST", "/v1/auth/signup", null, { email, password: "correct horse battery", name: "B", tenant_name: "B" });
  // s3s-fs answers CORS preflights with 501, so for the S3 run chromium is
  // told not to enforce CORS; a real bucket needs a CORS rule instead.
  const browser = await launch(label === "s3" ? ["--disable-web-security"] : []);
  const page = await browser.newPage();
  await page.goto(BASE + "/healthz");
  const file = join(tmpdir(), `cutroom-bench-${process.pid}.bin`);
  // Incompressible bytes, the same for both clients.
  writeFileSync(file, execFileSync("head", ["-c", String(size), "/dev/urandom"], { maxBuffer: size + 1 }));
  const browserRuns = [];
  const curlRuns = [];
  for (let i = 0; i < RUNS; i++) {
    const b = await presign(token, size);
    const seconds = await page.evaluate(async ({ url, headers, size }) => {
      const bytes = new Uint8Array(size);
      for (let at = 0; at < size; at += 65536) crypto.getRandomValues(bytes.subarray(at, at + 65536));
      const body = new Blob([bytes]);
      return new Promise((resolve, reject) => {
        const xhr = new XMLHttpRequest();
        xhr.open("PUT", url);
        for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() !== "content-length") xhr.setRequestHeader(k, v);
        let t0 = 0;
        xhr.upload.onloadstart = () => (t0 = performance.now());
        xhr.onload = () => (xhr.status < 300 ? resolve((performance.now() - t0) / 1000) : reject(new Error(`PUT ${xhr.status}`)));
        xhr.onerror = () => reject(new Error("PUT failed"));
        xhr.send(body);
      });
    }, { url: b.url, headers: b.headers, size });
    browserRuns.push(UPLOAD_MIB / seconds);
    const c = await presign(token, size);
    const args = ["-sS", "-o", "/dev/null", "-w", "%{time_total}", "-X", "PUT", "-T", file, c.url];
    for (const [k, v] of Object.entries(c.headers)) if (k.toLowerCase() !== "content-length") args.push("-H", `${k}: ${v}`);
    curlRuns.push(UPLOAD_MIB / Number(execFileSync("curl", args).toString()));
  }
  rmSync(file, { force: true });
  await browser.close();
  console.log(`| ${label}: ${UPLOAD_MIB} MiB PUT to the presigned URL | browser (XHR, as the app) | curl |\n|---|---|---|`);
  console.log(`| median of ${RUNS} | ${fmt(median(browserRuns))} MiB/s | ${fmt(median(curlRuns))} MiB/s |`);
  console.log(`| range | ${fmt(Math.min(...browserRuns))}–${fmt(Math.max(...browserRuns))} | ${fmt(Math.min(...curlRuns))}–${fmt(Math.max(...curlRuns))} |`);
}

if (WHAT === "bundle") bundle();
else if (WHAT === "tti") await tti();
else if (WHAT === "upload-local") await upload("local storage (same origin)");
else if (WHAT === "upload-s3") await upload("s3");
else {
  console.error("usage: node bench/web.mjs bundle|tti|upload-local|upload-s3");
  process.exit(2);
}
