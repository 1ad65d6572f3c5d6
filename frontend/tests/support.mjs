// What the browser tests share: the Cutroom under test, Debian's chromium
// driven by playwright-core, generated media, and a screenshot of the page
// whenever a step fails.

import { execFileSync } from "node:child_process";
import { closeSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

/** The running Cutroom (`.ci/browser-tests` starts one with the embedded default). */
export const BASE = process.env.CUTROOM_URL ?? "http://127.0.0.1:8080";
const ARTIFACTS = process.env.CUTROOM_BROWSER_ARTIFACTS ?? "test-results";
/** The server's operator token (`.ci/browser-tests` starts it with this one). */
export const OPERATOR_TOKEN = process.env.CUTROOM_OPERATOR_TOKEN ?? "browser-tests-operator-token-not-a-secret";

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CUTROOM_CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** A fresh browser profile (cookies of its own) with one page on Cutroom. */
export async function newPage(browser, { viewport = { width: 1280, height: 900 } } = {}) {
  // bypassCSP: axe is injected by evaluation; the app itself runs under its CSP
  // in the other tests' pages too, and nothing here relaxes the server's header.
  const context = await browser.newContext({ baseURL: BASE, viewport, bypassCSP: true });
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  // What the page logs is in the test output when a step fails.
  const console = [];
  page.on("console", (m) => console.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => console.push(`pageerror: ${e.message}`));
  page.consoleLines = console;
  return page;
}

/**
 * Runs one step of a scenario; when it throws, saves a screenshot and the
 * page's console under test-results/ and says where.
 */
export async function step(page, name, body) {
  try {
    return await body();
  } catch (e) {
    mkdirSync(ARTIFACTS, { recursive: true });
    const file = join(ARTIFACTS, `${name.replace(/[^a-z0-9]+/gi, "-")}.png`);
    await page.screenshot({ path: file, fullPage: true }).catch(() => undefined);
    const log = page.consoleLines?.slice(-30).join("\n") ?? "";
    e.message = `${name}: ${e.message}\n  screenshot: ${file}\n  url: ${page.url()}\n  console:\n${log}`;
    throw e;
  }
}

export function uniqueEmail(who) {
  return `${who}-${Date.now()}-${Math.floor(Math.random() * 1e6)}@example.org`;
}

/**
 * A 20-second 720p video whose speech holds a threat, then ordinary
 * sentences: enough for transcription, a moderation flag and highlights.
 * High bitrate on purpose, so the upload takes long enough to report
 * progress. Returns its path and a function removing it.
 */
export function talkVideo() {
  const dir = mkdtempSync(join(tmpdir(), "cutroom-browser-"));
  const speech = join(dir, "speech.wav");
  const video = join(dir, "all-hands.mp4");
  execFileSync("espeak-ng", [
    "-m", "-v", "en-us", "-s", "150", "-w", speech,
    "I am going to kill you. I will kill you when I see you. <break time=\"2500ms\"/> " +
      "Thank you all for coming to the meeting today. <break time=\"1200ms\"/> " +
      "Our new product launches next week, and the early numbers look very strong. <break time=\"1200ms\"/> " +
      "The weather looks lovely this afternoon in the park. <break time=\"1200ms\"/> " +
      "Please send your questions to the team before Friday.",
  ]);
  execFileSync("ffmpeg", [
    "-nostdin", "-loglevel", "error", "-y",
    "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25:duration=20",
    "-i", speech,
    "-af", "aresample=48000,adelay=500:all=1,apad", "-t", "20",
    "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "6M", "-pix_fmt", "yuv420p",
    "-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart", video,
  ]);
  return { path: video, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Signs up through the page; leaves it on the jobs page. */
export async function signUp(page, { name, email, tenant }) {
  await page.goto("/signup");
  await page.getByLabel("Your name").fill(name);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill("correct horse battery");
  await page.getByLabel("Organisation").fill(tenant);
  await page.getByRole("button", { name: "Sign up" }).click();
  await page.getByRole("heading", { name: "Jobs", level: 1 }).waitFor();
}

/** Logs in through the page; leaves it on the jobs page. */
export async function logIn(page, { email }) {
  await page.goto("/login");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill("correct horse battery");
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("heading", { name: "Jobs", level: 1 }).waitFor();
}

/** A link of the main navigation, by its exact name. */
export function nav(page, name) {
  return page.getByRole("navigation", { name: "Main" }).getByRole("link", { name, exact: true });
}

/** A file of `size` bytes named `name` (sparse: zeros cost no disk). */
/** A 200x80 solid magenta PNG, made by ffmpeg: a logo for audiograms. */
export function logoPng() {
  const dir = mkdtempSync(join(tmpdir(), "cutroom-logo-"));
  const path = join(dir, "logo.png");
  execFileSync("ffmpeg", [
    "-nostdin", "-loglevel", "error", "-y",
    "-f", "lavfi", "-i", "color=c=0xff00ff:s=200x80", "-frames:v", "1", path,
  ]);
  return { path, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export function tempFile(name, size) {
  const dir = mkdtempSync(join(tmpdir(), "cutroom-file-"));
  const path = join(dir, name);
  const fd = openSync(path, "w");
  writeSync(fd, "Not a video, whatever its name says.\n");
  ftruncateSync(fd, size);
  closeSync(fd);
  return { path, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

const AXE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

/**
 * Opens `path`, waits for its content, and fails on any WCAG 2.0/2.1 A or
 * AA violation axe-core finds (labels, contrast, roles, names, headings),
 * or on a page wider than the window (a phone would scroll sideways).
 */
export async function checkA11y(page, path) {
  await page.goto(path);
  await page.locator("main h1").first().waitFor();
  await page.waitForLoadState("networkidle", { timeout: 1500 }).catch(() => undefined);
  await page.waitForFunction(() => !document.querySelector('[role="status"]')?.textContent?.startsWith("Loading"));
  await page.evaluate(AXE);
  const violations = await page.evaluate(async () => {
    const r = await window.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } });
    return r.violations.map((v) => `${v.id} (${v.impact}): ${v.help}\n      ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join("\n      ")}`);
  });
  assert.deepEqual(violations, [], `${path}: accessibility violations`);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `${path} is ${overflow}px wider than the ${await page.evaluate(() => window.innerWidth)}px window`);
}
