// The batches pages in a real browser (run by app.test.mjs, with its
// browser): a member uploads a .tar.gz of spoken recordings with a parquet
// file of their metadata (and a text file, which is refused), watches the
// upload's progress and the batch run to its end, finds the recordings by
// metadata, retries the failed, opens one's job, and cancels a second
// batch whose start was lost.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parquet } from "./parquet.mjs";
import { checkA11y, logIn, nav, newPage, signUp, step, uniqueEmail } from "./support.mjs";

/** Four short recordings through the whole pipeline, in a debug build. */
const BATCH_LIMIT_MS = 600_000;
const ENDED = ["completed", "cancelled", "failed"];

/**
 * `archive.tar.gz`: `recordings/{ada,grace,extra}.mp3` (espeak-ng speech),
 * `recordings/broken.mp3` (an MP3's tag, then no audio: its job fails),
 * `recordings/notes.txt`, and `metadata/rows.parquet` with rows for ada,
 * grace and a `ghost` that names no recording.
 */
function archive(dir) {
  const said = {
    ada: "The archive holds short recordings of people speaking.",
    grace: "Every file becomes a job with its own metadata row.",
    extra: "This recording has no row in the metadata.",
  };
  mkdirSync(join(dir, "recordings"));
  mkdirSync(join(dir, "metadata"));
  for (const [stem, text] of Object.entries(said)) {
    const wav = join(dir, `${stem}.wav`);
    execFileSync("espeak-ng", ["-v", "en-us", "-s", "150", "-w", wav, text]);
    execFileSync("ffmpeg", [
      "-nostdin", "-loglevel", "error", "-y", "-i", wav,
      "-ac", "1", "-ar", "16000", "-c:a", "libmp3lame", "-b:a", "32k", join(dir, "recordings", `${stem}.mp3`),
    ]);
  }
  const tag = Buffer.from([0x49, 0x44, 0x33, 4, 0, 0, 0, 0, 0, 0]);
  writeFileSync(join(dir, "recordings", "broken.mp3"), Buffer.concat([tag, Buffer.alloc(4096, "no audio here ")]));
  writeFileSync(join(dir, "recordings", "notes.txt"), "The reading room opens at nine. Not a recording.\n");
  writeFileSync(
    join(dir, "metadata", "rows.parquet"),
    parquet({ meta_id: ["ada", "grace", "ghost"], speaker: ["Ada", "Grace", "Nobody"], year: [2020, 2021, 2022] }),
  );
  const path = join(dir, "archive.tar.gz");
  execFileSync("tar", ["czf", path, "-C", dir, "recordings", "metadata"]);
  return path;
}

/** A row of the batch's recordings, by its path in the archive. */
const child = (page, path) => page.locator(`table.children tr[data-path="${path}"]`);

/** Picks `file` and starts the upload; resolves with the batch's page address. */
async function upload(page, file) {
  await page.getByLabel(/^Archive/).setInputFiles(file);
  // No clips: the jobs end sooner; the batch sends { job: { clips: { count: 0 } } }.
  await page.getByLabel("Make clips of each recording").uncheck();
  await page.getByRole("button", { name: "Upload and start" }).click();
  const item = page.locator('li.upload[data-file="archive.tar.gz"]');
  await item.getByText("Uploaded; the archive is being unpacked.").waitFor({ timeout: 60_000 });
  await item.getByRole("link", { name: "Open the batch" }).click();
  await page.waitForURL(/\/batches\/[0-9a-f-]{36}$/);
  return new URL(page.url()).pathname;
}

export async function batchArchive(browser) {
  const page = await newPage(browser);
  const bo = { name: "Bo Batch", email: uniqueEmail("bo"), tenant: "Bo's Archive" };
  const dir = mkdtempSync(join(tmpdir(), "cutroom-batch-"));
  let batchUrl;
  try {
    const file = archive(dir);
    await step(page, "batches-sign-up", () => signUp(page, bo));

    await step(page, "batches-refuse-not-an-archive", async () => {
      await nav(page, "Batches").click();
      await page.getByRole("heading", { name: "Batches", level: 1 }).waitFor();
      await page.getByText("No batches yet.").waitFor();
      await page.getByLabel(/^Archive/).setInputFiles(join(dir, "recordings", "notes.txt"));
      await page.getByRole("alert").filter({ hasText: "is neither a .tar, .tar.gz or .tgz archive nor a .jsonl, .csv or .parquet manifest" }).waitFor();
      assert.ok(await page.getByRole("button", { name: "Upload and start" }).isDisabled());
    });

    await step(page, "batches-upload", async () => {
      // Every value the bar shows, to see it reach the end.
      await page.evaluate(() => {
        window.__progress = [];
        new MutationObserver(() => {
          const bar = document.querySelector("li.upload progress");
          if (bar) window.__progress.push(Number(bar.getAttribute("value")));
        }).observe(document.body, { subtree: true, attributes: true, childList: true });
      });
      // What the form sends (chromium does not show playwright the body
      // of a fetch made with a Request object).
      await page.evaluate(() => {
        window.__batchBodies = [];
        window.__realFetch = window.fetch;
        window.fetch = async (input, init) => {
          if (input instanceof Request && input.method === "POST" && new URL(input.url).pathname === "/v1/batches")
            window.__batchBodies.push(await input.clone().json());
          return window.__realFetch(input, init);
        };
      });
      batchUrl = await upload(page, file);
      const sent = await page.evaluate(() => {
        window.fetch = window.__realFetch;
        return window.__batchBodies;
      });
      assert.deepEqual(sent.map((b) => [b.name, b.options]), [
        ["archive.tar.gz", { key_column: "meta_id", source_column: "source", opus_kbps: 32, job: { clips: { count: 0 } } }],
      ]);
      const seen = await page.evaluate(() => window.__progress);
      assert.equal(Math.max(...seen), 100, `progress values: ${seen}`);
    });

    await step(page, "batches-complete", async () => {
      await page.getByRole("heading", { name: "archive.tar.gz", level: 1 }).waitFor();
      // Read again every two seconds by the page itself: no reload here.
      await page.waitForFunction(
        (ended) => ended.includes(document.querySelector("#batch-status")?.dataset.status),
        ENDED,
        { timeout: BATCH_LIMIT_MS, polling: 500 },
      );
      const status = page.locator("#batch-status");
      assert.equal(await status.getAttribute("data-status"), "completed", await status.textContent());
      await status.getByText("3 succeeded").waitFor();
      await status.getByText("1 failed").waitFor();
      // The failure is counted by its code, which the recording's row shows too.
      const broken = child(page, "recordings/broken.mp3");
      assert.equal(await broken.getAttribute("data-status"), "failed");
      const codes = await page.locator("table.failures tr[data-code]").evaluateAll((rows) =>
        rows.map((r) => [r.dataset.code, r.cells[1].textContent]),
      );
      assert.equal(codes.length, 1, JSON.stringify(codes));
      assert.deepEqual(codes[0][1], "1");
      await broken.getByText(codes[0][0], { exact: true }).waitFor();
      const refused = page.locator('table.refused tr[data-path="recordings/notes.txt"]');
      assert.equal(await refused.getAttribute("data-reason"), "not_audio");
      await refused.getByText("not audio", { exact: true }).waitFor();
      assert.equal(await page.locator("table.refused tbody tr").count(), 1);
      await page.getByRole("list", { name: /Recordings without a row/ }).getByText("recordings/extra.mp3").waitFor();
      await page.getByRole("table", { name: /Rows without a recording/ }).locator('tr[data-key="ghost"]').waitFor();
      await child(page, "recordings/ada.mp3").waitFor();
      assert.equal(await page.locator("table.children tbody tr").count(), 4);
      for (const path of ["recordings/ada.mp3", "recordings/grace.mp3", "recordings/extra.mp3"])
        assert.equal(await child(page, path).getAttribute("data-status"), "succeeded", path);
      const meta = JSON.parse(await child(page, "recordings/ada.mp3").locator("code.meta").textContent());
      assert.deepEqual(meta, { meta_id: "ada", speaker: "Ada", year: 2020 });
      await child(page, "recordings/extra.mp3").getByText("none").waitFor();
    });

    await step(page, "batches-metadata-filter", async () => {
      const search = page.getByRole("search", { name: "Find by metadata" });
      await search.getByLabel("Metadata field").fill("speaker");
      await search.getByLabel("Value").fill("Grace");
      await search.getByRole("button", { name: "Find" }).click();
      await child(page, "recordings/ada.mp3").waitFor({ state: "detached" });
      await child(page, "recordings/grace.mp3").waitFor();
      assert.equal(await page.locator("table.children tbody tr").count(), 1);
      await search.getByLabel("Metadata field").fill("year");
      await search.getByLabel("Value").fill("2020");
      await search.getByRole("button", { name: "Find" }).click();
      await child(page, "recordings/ada.mp3").waitFor();
      assert.equal(await page.locator("table.children tbody tr").count(), 1);
      await search.getByLabel("Value").fill("1999");
      await search.getByRole("button", { name: "Find" }).click();
      await page.getByText("No recording matches.").waitFor();
      await page.getByRole("button", { name: "Show all" }).click();
      await child(page, "recordings/extra.mp3").waitFor();
      assert.equal(await page.locator("table.children tbody tr").count(), 4);
      await page.getByLabel("Status").selectOption("failed");
      await child(page, "recordings/ada.mp3").waitFor({ state: "detached" });
      assert.equal(await page.locator("table.children tbody tr").count(), 1);
      await page.getByLabel("Status").selectOption("");
      await child(page, "recordings/ada.mp3").waitFor();
    });

    await step(page, "batches-retry-failed", async () => {
      await page.getByRole("button", { name: "Retry failed" }).click();
      // Its recording cannot be read: it is not kept, and would fail again.
      const said = "No failed job can run again: 1 would fail the same way.";
      await page.getByRole("status").filter({ hasText: said }).waitFor();
      // Nothing went back in line: the batch stays completed.
      assert.equal(await page.locator("#batch-status").getAttribute("data-status"), "completed");
      await page.locator("#batch-status").getByText("1 failed").waitFor();
    });

    await step(page, "batches-results", async () => {
      const [download] = await Promise.all([
        page.waitForEvent("download"),
        page.getByRole("button", { name: "Download the results as JSON lines" }).click(),
      ]);
      assert.equal(download.suggestedFilename(), "archive-results.jsonl");
      const text = readFileSync(await download.path(), "utf8");
      const rows = text.trim().split("\n").map((l) => JSON.parse(l));
      assert.equal(rows.length, 4, text);
      const ada = rows.find((r) => r.entry_path === "recordings/ada.mp3");
      assert.equal(ada.metadata.speaker, "Ada");
      assert.equal(ada.status, "succeeded");
      assert.ok(ada.transcript.length > 0, text);
      assert.equal(rows.find((r) => r.entry_path === "recordings/broken.mp3").status, "failed");
    });

    await step(page, "batches-child-job", async () => {
      await child(page, "recordings/grace.mp3").getByRole("link").click();
      await page.waitForURL(/\/jobs\/[0-9a-f-]{36}$/);
      await page.getByRole("heading", { name: "grace.mp3", level: 1 }).waitFor();
      assert.equal(await page.locator("#job-status").getAttribute("data-status"), "succeeded");
      await page.getByRole("link", { name: /recording\.opus/ }).waitFor();
      await page.locator("details.job-facts summary").click();
      assert.equal(await page.getByRole("link", { name: "its batch" }).getAttribute("href"), batchUrl);
      // A child is not in the jobs list; the batch's unpacking job is.
      await nav(page, "Jobs").click();
      await page.locator("tr[data-job]").first().waitFor();
      assert.equal(await page.locator("tr[data-job]").filter({ hasText: "grace.mp3" }).count(), 0);
    });

    await step(page, "batches-list", async () => {
      await nav(page, "Batches").click();
      const row = page.locator("tr[data-batch]");
      await row.filter({ hasText: "archive.tar.gz" }).waitFor();
      assert.equal(await row.getAttribute("data-status"), "completed");
      await row.getByText("3 succeeded").waitFor();
    });

    await step(page, "batches-cancel", async () => {
      // The start is lost on the way: the batch waits for it, and is cancelled instead.
      const start = "**/v1/batches/*/start";
      await page.route(start, (r) => r.abort());
      await page.getByLabel(/^Archive/).setInputFiles(file);
      await page.getByRole("button", { name: "Upload and start" }).click();
      await page.locator('li.upload[data-file="archive.tar.gz"]').getByRole("alert").waitFor({ timeout: 60_000 });
      await page.unroute(start);
      const waiting = page.locator('tr[data-batch][data-status="uploading"]');
      await waiting.getByText("Waiting for the archive").waitFor();
      await waiting.getByRole("link", { name: "archive.tar.gz" }).click();
      await page.locator('#batch-status[data-status="uploading"]').waitFor();
      await page.getByRole("button", { name: "Start" }).waitFor();
      page.once("dialog", (d) => d.accept());
      await page.getByRole("button", { name: "Cancel the batch" }).click();
      await page.locator('#batch-status[data-status="cancelled"]').waitFor();
      assert.equal(await page.getByRole("button", { name: "Cancel the batch" }).count(), 0);
      await nav(page, "Batches").click();
      await page.locator('tr[data-batch][data-status="cancelled"]').waitFor();
      assert.equal(await page.locator("tr[data-batch]").count(), 2);
    });

    await step(page, "batches-manifest", async () => {
      // A manifest of links: a link no job may name is refused, as a job's would be.
      const manifest = join(dir, "links.csv");
      writeFileSync(manifest, "source,speaker\nhttp://169.254.169.254/latest/meta-data,Eve\n");
      await nav(page, "Batches").click();
      await page.getByLabel(/^Archive/).setInputFiles(manifest);
      await page.getByRole("button", { name: "Upload and start" }).click();
      const item = page.locator('li.upload[data-file="links.csv"]');
      await item.getByRole("link", { name: "Open the batch" }).click({ timeout: 60_000 });
      await page.locator('#batch-status[data-status="completed"]').waitFor({ timeout: 60_000 });
      const row = page.locator('table.refused tr[data-path="links.csv#0"]');
      assert.equal(await row.getAttribute("data-reason"), "bad_source");
      await row.getByText("169.254.169.254").waitFor();
    });

    // The pages at their fullest, on a desktop and on a phone.
    await step(page, "batches-a11y-desktop", async () => {
      await checkA11y(page, "/batches");
      await checkA11y(page, batchUrl);
    });
    const phone = await newPage(browser, { viewport: { width: 375, height: 740 } });
    await step(phone, "batches-a11y-phone", async () => {
      await logIn(phone, bo);
      await checkA11y(phone, "/batches");
      await checkA11y(phone, batchUrl);
    });
    await phone.context().close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  await page.context().close();
}
