// The speaker library's page in a real browser (run by app.test.mjs, with
// its browser): a member adds speakers, finds one by name, merges one into
// another, renames them, uploads a recording of one as a voice sample (a
// job of its own enrols it, and refuses one too short), and deletes them.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nav, newPage, signUp, step, uniqueEmail } from "./support.mjs";

/** An espeak-ng recording of `text` (a synthetic voice: this checks the page, not recognition). */
function recording(dir, name, text) {
  const path = join(dir, name);
  execFileSync("espeak-ng", ["-v", "en-us", "-s", "150", "-w", path, text]);
  return path;
}

/** A speaker of the speakers page's library, by its exact name. */
const librarySpeaker = (page, name) =>
  page.locator("li[data-speaker]", { has: page.getByRole("heading", { name, exact: true, level: 3 }) });

export async function speakerLibrary(browser) {
  // An organisation of its own: nothing here needs a finished job.
  const page = await newPage(browser);
  const lin = { name: "Lin Library", email: uniqueEmail("lin"), tenant: "Lin's Library" };
  await step(page, "speakers-sign-up", () => signUp(page, lin));
  const form = page.locator("section", { has: page.getByRole("heading", { name: "Add a speaker" }) }).locator("form");

  await step(page, "speakers-create", async () => {
    await nav(page, "Speakers").click();
    await page.getByRole("heading", { name: "Speakers", level: 1 }).waitFor();
    await page.getByText("No speakers yet.").waitFor();
    await form.getByLabel("Name", { exact: true }).fill("Grace Hopper");
    await form.getByLabel(/External id/).fill("emp-42");
    await form.getByLabel(/agreed to their voice/).check();
    await form.getByRole("button", { name: "Add speaker" }).click();
    const grace = librarySpeaker(page, "Grace Hopper");
    await grace.waitFor();
    await grace.getByText("consent given").waitFor();
    await grace.getByText("emp-42").waitFor();
    await form.getByLabel("Name", { exact: true }).fill("Alan Turing");
    await form.getByRole("button", { name: "Add speaker" }).click();
    await librarySpeaker(page, "Alan Turing").getByText("no consent recorded").waitFor();
  });

  await step(page, "speakers-search", async () => {
    await page.getByLabel("Search by name").fill("grac");
    await librarySpeaker(page, "Alan Turing").waitFor({ state: "detached" });
    assert.equal(await page.locator("li[data-speaker]").count(), 1);
    await page.getByLabel("Search by name").fill("nobody");
    await page.getByText(/No speaker's name holds/).waitFor();
    await page.getByLabel("Search by name").fill("");
    await librarySpeaker(page, "Alan Turing").waitFor();
  });

  await step(page, "speakers-duplicate-external-id", async () => {
    // The API's refusal is shown as it words it.
    await form.getByLabel("Name", { exact: true }).fill("Grace Again");
    await form.getByLabel(/External id/).fill("emp-42");
    await form.getByRole("button", { name: "Add speaker" }).click();
    await form.getByRole("alert").filter({ hasText: "external_id_taken" }).waitFor();
    assert.equal(await librarySpeaker(page, "Grace Again").count(), 0);
    await form.getByLabel(/External id/).fill("");
    await form.getByLabel("Name", { exact: true }).fill("");
  });

  await step(page, "speakers-merge", async () => {
    const grace = librarySpeaker(page, "Grace Hopper");
    await grace.getByLabel("Merge into Grace Hopper").selectOption({ label: "Alan Turing" });
    page.once("dialog", (d) => d.accept());
    await grace.getByRole("button", { name: "Merge" }).click();
    await librarySpeaker(page, "Alan Turing").waitFor({ state: "detached" });
    await page.reload();
    await librarySpeaker(page, "Grace Hopper").waitFor();
    assert.equal(await librarySpeaker(page, "Alan Turing").count(), 0);
  });

  await step(page, "speakers-rename", async () => {
    // By id: the heading gives way to the name's box while renaming.
    const id = await librarySpeaker(page, "Grace Hopper").getAttribute("data-speaker");
    const grace = page.locator(`li[data-speaker="${id}"]`);
    await grace.getByRole("button", { name: "Rename Grace Hopper" }).click();
    await grace.getByLabel("New name for Grace Hopper").fill("Grace Brewster Hopper");
    await grace.getByRole("button", { name: "Save" }).click();
    await librarySpeaker(page, "Grace Brewster Hopper").waitFor();
    // Saved through the API: a reload shows it.
    await page.reload();
    await librarySpeaker(page, "Grace Brewster Hopper").waitFor();
    assert.equal(await librarySpeaker(page, "Grace Hopper").count(), 0);
  });

  await step(page, "speakers-samples", async () => {
    const grace = librarySpeaker(page, "Grace Brewster Hopper");
    await grace.getByRole("button", { name: "Show the samples of Grace Brewster Hopper" }).click();
    await grace.getByText(/No samples yet/).waitFor();
  });

  await step(page, "speakers-upload-sample", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cutroom-voices-"));
    try {
      const grace = librarySpeaker(page, "Grace Brewster Hopper");
      const file = grace.getByLabel(/Upload a recording of Grace Brewster Hopper/);
      // Too little speech: the enrolling job's refusal is shown with its code.
      await file.setInputFiles(recording(dir, "hello.wav", "Hello."));
      await grace.getByRole("button", { name: "Upload sample" }).click();
      await grace.getByRole("alert").filter({ hasText: "sample_too_short" }).waitFor({ timeout: 120_000 });
      await file.setInputFiles(
        recording(
          dir,
          "grace.wav",
          "The most dangerous phrase in the language is, we have always done it this way. " +
            "It is easier to ask forgiveness than it is to get permission. " +
            "A ship in port is safe, but that is not what ships are built for.",
        ),
      );
      await grace.getByRole("button", { name: "Upload sample" }).click();
      await grace.getByText("Added a sample of Grace Brewster Hopper's voice from grace.wav.").waitFor({ timeout: 120_000 });
      // The samples list opened and shows it; the count followed.
      await grace.locator("tr[data-sample]").filter({ hasText: "an uploaded recording" }).waitFor();
      await grace.getByText(/^1 sample ·/).waitFor();
      assert.equal(await grace.getByRole("alert").count(), 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  await step(page, "speakers-delete", async () => {
    page.once("dialog", (d) => d.accept());
    await page.getByRole("button", { name: "Delete Grace Brewster Hopper" }).click();
    await librarySpeaker(page, "Grace Brewster Hopper").waitFor({ state: "detached" });
    await page.getByText("No speakers yet.").waitFor();
    await page.reload();
    await page.getByText("No speakers yet.").waitFor();
  });
  await page.context().close();
}
