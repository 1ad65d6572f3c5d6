// The web app in a real browser (Debian's chromium, headless, driven by
// playwright-core) against a running Cutroom with the embedded default:
// what a new user does on their first day, then what a stranger from
// another organisation can see of it (nothing).

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  checkA11y, launch, logIn, logoPng, nav, newPage, OPERATOR_TOKEN, signUp, step, talkVideo, tempFile, uniqueEmail,
} from "./support.mjs";
import { speakerLibrary } from "./speakers.mjs";
import { batchArchive } from "./batches.mjs";

/** The whole pipeline on a 20-second video, in a debug build. */
const JOB_LIMIT_MS = 300_000;

let browser;
let video;
let notes;
let huge;
let logo;
before(async () => {
  browser = await launch();
  video = talkVideo();
  notes = tempFile("notes.txt", 2048);
  // Over the test server's CUTROOM_MAX_UPLOAD_BYTES (.ci/browser-tests); sparse.
  huge = tempFile("huge.mp4", 200 * 1024 * 1024);
  logo = logoPng();
});
after(async () => {
  await browser?.close();
  for (const f of [video, notes, huge, logo]) f?.remove();
});

/** Shared by the scenario's steps, in order. */
const owner = { name: "Ada Owner", email: uniqueEmail("ada"), tenant: "Ada's Studio" };
let jobUrl;

test("a new user uploads a video, watches it processed, and works with the results", async (t) => {
  const page = await newPage(browser);

  await t.test("sign up", () => step(page, "sign-up", () => signUp(page, owner)));

  await t.test("block threats in the moderation policy", () =>
    step(page, "moderation-policy", async () => {
      await nav(page, "Settings").click();
      await page.getByRole("navigation", { name: "Settings" }).getByRole("link", { name: /moderation/i }).click();
      await page.getByLabel("violence threshold").fill("0.5");
      await page.getByLabel("violence action").selectOption("block");
      await page.getByRole("button", { name: "Save policy" }).click();
      await page.getByRole("status").filter({ hasText: "Saved." }).waitFor();
    }),
  );

  await t.test("set, see and remove the logo for audiograms", () =>
    step(page, "audiogram-logo", async () => {
      await page.getByRole("navigation", { name: "Settings" }).getByRole("link", { name: "Audiograms" }).click();
      await page.getByText("No logo: audiograms have none.").waitFor();
      const puts = [];
      const onRequest = (r) => r.method() === "PUT" && puts.push(r.url());
      page.on("request", onRequest);
      await page.getByLabel("Upload a logo").setInputFiles(notes.path);
      await page.getByRole("alert").filter({ hasText: /PNG or JPEG/ }).waitFor();
      assert.deepEqual(puts, [], "a text file is refused before it is sent");
      page.off("request", onRequest);
      await page.getByLabel("Upload a logo").setInputFiles(logo.path);
      await page.getByRole("status").filter({ hasText: "Saved" }).waitFor();
      const img = page.getByRole("img", { name: /logo/ });
      await img.waitFor();
      await page.waitForFunction(() => document.querySelector(".logo-preview img")?.naturalWidth === 200);
      await page.getByRole("button", { name: "Remove the logo" }).click();
      await page.getByText("No logo: audiograms have none.").waitFor();
      await page.getByLabel("Upload a logo").setInputFiles(logo.path);
      await img.waitFor();
    }),
  );

  await t.test("wrong files and links are refused before any byte is sent", () =>
    step(page, "refusals", async () => {
      await nav(page, "Jobs").click();
      const puts = [];
      const onRequest = (r) => r.method() === "PUT" && puts.push(r.url());
      page.on("request", onRequest);
      await page.getByLabel("Video or audio files to upload").setInputFiles([notes.path, huge.path]);
      await page.locator('li.upload[data-file="notes.txt"]').getByRole("alert").filter({ hasText: /not a video or audio file/ }).waitFor();
      await page.locator('li.upload[data-file="huge.mp4"]').getByRole("alert").filter({ hasText: /upload_too_large|too large|larger/i }).waitFor();
      await page.getByLabel("Or a YouTube link").fill("https://example.com/watch?v=abc");
      await page.getByLabel("Audio only (no clips)").check();
      // What the form sends (chromium does not show playwright the body
      // of a fetch made with a Request object).
      await page.evaluate(() => {
        window.__jobBodies = [];
        window.__realFetch = window.fetch;
        window.fetch = async (input, init) => {
          if (input instanceof Request && input.method === "POST" && new URL(input.url).pathname === "/v1/jobs")
            window.__jobBodies.push(await input.clone().json());
          return window.__realFetch(input, init);
        };
      });
      await page.getByRole("button", { name: "Process" }).click();
      await page.getByRole("alert").filter({ hasText: /invalid_source_url/ }).waitFor();
      const sent = await page.evaluate(() => {
        window.fetch = window.__realFetch;
        return window.__jobBodies;
      });
      assert.deepEqual(sent.map((b) => b.options), [{ audio_only: true }], "the box asks for audio only");
      await page.getByLabel("Audio only (no clips)").uncheck();
      page.off("request", onRequest);
      assert.deepEqual(puts, [], "nothing was uploaded");
      for (const name of ["notes.txt", "huge.mp4"])
        await page.locator(`li.upload[data-file="${name}"]`).getByRole("button", { name: "Dismiss" }).click();
    }),
  );

  await t.test("upload through the page in parts; the progress bar reaches 100 %", () =>
    step(page, "upload", async () => {
      await nav(page, "Jobs").click();
      // The server cuts files over 5 MiB into 5 MiB parts here (.ci/browser-tests).
      const parts = new Set();
      const onPart = (r) => {
        const n = r.method() === "PUT" && new URL(r.url()).searchParams.get("part_number");
        if (n) parts.add(n);
      };
      page.on("request", onPart);
      // Every value the bar shows, to see it climb, not only end.
      await page.evaluate(() => {
        window.__progress = [];
        new MutationObserver(() => {
          const bar = document.querySelector("li.upload progress");
          if (bar) window.__progress.push(Number(bar.getAttribute("value")));
        }).observe(document.body, { subtree: true, attributes: true, childList: true });
      });
      await page.getByLabel("Video or audio files to upload").setInputFiles(video.path);
      const row = page.locator('li.upload[data-file="all-hands.mp4"]');
      await row.locator(".pct", { hasText: "100 %" }).waitFor({ timeout: 60_000 });
      await row.getByText("Uploaded.").waitFor();
      const seen = await page.evaluate(() => window.__progress);
      assert.equal(Math.max(...seen), 100, `progress values: ${seen}`);
      page.off("request", onPart);
      assert.ok(parts.size >= 3, `parts sent: ${[...parts]}`);
      await row.getByRole("link", { name: "Open the job" }).click();
      await page.waitForURL(/\/jobs\/[0-9a-f-]{36}$/);
      jobUrl = new URL(page.url()).pathname;
    }),
  );

  await t.test("the job reaches succeeded live, without a reload", () =>
    step(page, "job-live", async () => {
      await page.getByRole("heading", { name: "all-hands.mp4", level: 1 }).waitFor();
      const status = page.locator("#job-status");
      await page.waitForFunction(
        () => ["succeeded", "failed", "cancelled"].includes(document.querySelector("#job-status")?.dataset.status),
        null,
        { timeout: JOB_LIMIT_MS, polling: 500 },
      );
      assert.equal(await status.getAttribute("data-status"), "succeeded");
      // What it cost, in a sentence, and how its engine was chosen: no
      // cloud engine is set up, so the worker transcribed it.
      const cost = page.getByTestId("job-cost");
      await cost.waitFor();
      assert.match(await cost.innerText(), /cost \$\d+\.\d{4} \(local tiny\.en, \d+ s of CPU\)/i);
      const route = page.getByTestId("job-route");
      await route.locator("summary").click();
      await route.getByText(/no cloud engine; the worker transcribes/).waitFor();
    }),
  );

  await t.test("edit a transcript line", () =>
    step(page, "edit-transcript", async () => {
      const line = page.locator("li[data-segment]").nth(1);
      const n = await line.getAttribute("data-segment");
      await line.getByRole("button", { name: `Edit line ${n}` }).click();
      const box = line.getByLabel(`Text of line ${n}`);
      await box.fill("Thank you all for coming to the all-hands today.");
      await line.getByRole("button", { name: "Save" }).click();
      await line.getByText("Thank you all for coming to the all-hands today.").waitFor();
      // Saved through the API: a reload shows it.
      await page.reload();
      await page
        .locator(`li[data-segment="${n}"]`)
        .getByText("Thank you all for coming to the all-hands today.")
        .waitFor();
    }),
  );

  await t.test("approve the flagged threat in the review queue, from the keyboard", () =>
    step(page, "review", async () => {
      await nav(page, "Review").click();
      const flag = page.locator("article.flag").filter({ hasText: /kill you/i }).first();
      await flag.waitFor();
      // From the keyboard: n to the note, Escape out of it, a to approve.
      await page.keyboard.press("n");
      await page.keyboard.type("Quoted from a film; fine to publish.");
      assert.equal(await flag.getByLabel("Note").inputValue(), "Quoted from a film; fine to publish.");
      await page.keyboard.press("Escape");
      await page.keyboard.press("a");
      await page.waitForFunction(
        (el) => el.dataset.status === "approved",
        await flag.elementHandle(),
      );
    }),
  );

  await t.test("the approval released the clip: play it", () =>
    step(page, "play-clip", async () => {
      // The only clip overlapped the threat: held until the approval.
      await page.goto(jobUrl);
      const clip = page.locator("article.clip").first();
      await clip.waitFor({ timeout: 30_000 });
      const player = clip.locator("video");
      await player.evaluate((v) => {
        v.muted = true;
        return v.play();
      });
      await page.waitForFunction((v) => v.currentTime > 0.5, await player.elementHandle(), { timeout: 20_000 });
      const played = await player.evaluate((v) => ({ t: v.currentTime, d: v.duration, err: v.error?.code ?? null }));
      assert.equal(played.err, null);
      assert.ok(played.d > 1, `clip duration ${played.d}`);
    }),
  );

  await t.test("create an API key, see it once, and revoke it", () =>
    step(page, "api-keys", async () => {
      await nav(page, "Settings").click();
      await page.getByRole("navigation", { name: "Settings" }).getByRole("link", { name: /keys/i }).click();
      await page.getByLabel("Key name").fill("ci uploader");
      await page.getByRole("button", { name: "Create key" }).click();
      const secret = (await page.locator("#new-key").textContent()).trim();
      assert.match(secret, /^crk_/);
      // The key works against the API.
      const me = await page.request.get("/v1/me", { headers: { Authorization: `Bearer ${secret}` } });
      assert.equal(me.status(), 200);
      page.once("dialog", (d) => d.accept());
      await page.getByRole("button", { name: "Revoke ci uploader" }).click();
      await page.waitForFunction(() => {
        const row = [...document.querySelectorAll("tr[data-key]")].find((r) => r.textContent.includes("ci uploader"));
        return !row || row.dataset.revoked === "true";
      });
      const after = await page.request.get("/v1/me", { headers: { Authorization: `Bearer ${secret}` } });
      assert.equal(after.status(), 401);
    }),
  );

  await t.test("let the router choose the analysis provider, in the Analysis settings", () =>
    step(page, "analysis-settings", async () => {
      await nav(page, "Settings").click();
      await page.getByRole("navigation", { name: "Settings" }).getByRole("link", { name: "Analysis" }).click();
      const form = page.getByTestId("analysis-settings");
      await form.getByTestId("analysis-provider").selectOption("auto");
      await form.getByLabel(/Most in flight/).fill("2");
      await form.getByRole("button", { name: "Save analysis settings" }).click();
      await form.getByRole("status").filter({ hasText: "router’s choice" }).waitFor();
      // Saved on the server: a fresh load of the page shows it.
      await page.reload();
      const again = page.getByTestId("analysis-settings");
      await again.getByTestId("analysis-provider").waitFor();
      await page.waitForFunction(
        () => document.querySelector('[data-testid="analysis-provider"]')?.value === "auto",
      );
      assert.equal(await again.getByLabel(/Most in flight/).inputValue(), "2");
    }),
  );

  await page.context().close();
});

/** The fleet page's token form, filled and sent. */
async function showFleet(page, token) {
  await page.getByLabel("Operator token").fill(token);
  await page.getByRole("button", { name: "Show the fleet" }).click();
}

test("an operator watches the fleet", async () => {
  assert.ok(jobUrl, "the first scenario made a job");
  // No account: the page takes the operator token, not a session.
  const page = await newPage(browser);
  const isFleet = (r) => new URL(r.url()).pathname === "/v1/admin/fleet";
  await step(page, "fleet-wrong-token", async () => {
    await page.goto("/login");
    await page.getByRole("link", { name: "Operators: the fleet" }).click();
    await page.waitForURL(/\/fleet$/);
    await page.getByRole("heading", { name: "Fleet", level: 1 }).waitFor();
    await showFleet(page, "not-the-operator-token-though-just-as-long");
    await page.getByRole("alert").filter({ hasText: "That is not the operator token." }).waitFor();
    // The form again, and nothing kept.
    await page.getByLabel("Operator token").waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem("cutroom.operatorToken")), null);
  });

  await step(page, "fleet-shown", async () => {
    const sent = page.waitForRequest(isFleet);
    sent.catch(() => undefined);
    await showFleet(page, OPERATOR_TOKEN);
    assert.equal((await (await sent).allHeaders()).authorization, `Bearer ${OPERATOR_TOKEN}`);
    // The server's in-process worker, alive.
    const workers = page.getByRole("table", { name: "Workers" });
    const worker = workers.locator('tbody tr[data-state="idle"], tbody tr[data-state="busy"]').first();
    await worker.waitFor();
    await worker.getByText(/^\d+ s ago$/).waitFor();
    // The first scenario's job ended within the hour.
    const perHour = Number(await page.getByTestId("fleet-jobs-per-hour").textContent());
    assert.ok(perHour >= 1, `jobs/hour: ${perHour}`);
    for (const name of ["Queue by tenant", "Failures in the last 24 hours", "Batches running"])
      await page.getByRole("heading", { name, level: 2 }).waitFor();
    // Kept for this tab only.
    const kept = await page.evaluate(() => [
      sessionStorage.getItem("cutroom.operatorToken"),
      localStorage.getItem("cutroom.operatorToken"),
    ]);
    assert.deepEqual(kept, [OPERATOR_TOKEN, null]);
  });

  await step(page, "fleet-polls", async () => {
    // Read again on its own, every 5 seconds.
    const again = await page.waitForResponse(isFleet, { timeout: 12_000 });
    assert.equal(again.status(), 200);
    // A reload keeps the token: the tables come straight back.
    await page.reload();
    await page.getByRole("table", { name: "Workers" }).waitFor();
  });

  await step(page, "fleet-forget", async () => {
    await page.getByRole("button", { name: "Forget the token" }).click();
    await page.getByLabel("Operator token").waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem("cutroom.operatorToken")), null);
    // No more requests once the form is back.
    let later = 0;
    const count = (r) => isFleet(r) && later++;
    page.on("request", count);
    await page.waitForTimeout(6_000);
    page.off("request", count);
    assert.equal(later, 0, "the page stopped reading the fleet");
  });
  await page.context().close();
});

test("tabs opened at the same moment all stay signed in", async () => {
  // They share the refresh cookie; refreshing at once must not look like a
  // stolen token to the API (which would end the session).
  const page = await newPage(browser);
  await step(page, "tabs-login", () => logIn(page, owner));
  const tabs = await Promise.all([1, 2, 3].map(() => page.context().newPage()));
  // A slow network, so that their refreshes overlap for certain.
  for (const t of tabs) {
    const cdp = await page.context().newCDPSession(t);
    await cdp.send("Network.enable");
    await cdp.send("Network.emulateNetworkConditions", {
      offline: false,
      latency: 400,
      downloadThroughput: -1,
      uploadThroughput: -1,
    });
  }
  await step(page, "tabs-at-once", async () => {
    await Promise.all(tabs.map((t) => t.goto("/jobs")));
    for (const t of tabs) await t.getByRole("heading", { name: "Jobs", level: 1 }).waitFor();
    // Still signed in afterwards: the session was not ended as a replay.
    await page.reload();
    await page.getByRole("heading", { name: "Jobs", level: 1 }).waitFor();
  });
  await page.context().close();
});

test("a user of another organisation sees none of it", async () => {
  assert.ok(jobUrl, "the first scenario made a job");
  const page = await newPage(browser);
  const stranger = { name: "Eve Other", email: uniqueEmail("eve"), tenant: "Elsewhere Inc" };
  await step(page, "stranger-sign-up", () => signUp(page, stranger));
  await step(page, "stranger-jobs", async () => {
    await page.getByText("No jobs yet").waitFor();
    assert.equal(await page.locator("tr[data-job]").count(), 0);
  });
  await step(page, "stranger-job-page", async () => {
    await page.goto(jobUrl);
    await page.getByRole("alert").filter({ hasText: /no job with this id/i }).waitFor();
    assert.equal(await page.locator("article.clip").count(), 0);
  });
  await step(page, "stranger-review", async () => {
    await page.goto("/review");
    await page.getByRole("heading", { level: 1 }).waitFor();
    // Let the list load before counting.
    await page.waitForLoadState("networkidle");
    assert.equal(await page.locator("article.flag").count(), 0);
  });
  await page.context().close();
});

/** The members page's invitation form. */
const invite = (page) => page.locator("section", { has: page.getByRole("heading", { name: "Invite someone" }) }).locator("form");

test("invitations: a newcomer joins by link, an existing user accepts and switches tenants, roles hold", async () => {
  assert.ok(jobUrl, "the first scenario made a job");
  const admin = await newPage(browser);
  const invitee = { name: "Nia New", email: uniqueEmail("nia") };
  const existing = { name: "Ola Other", email: uniqueEmail("ola"), tenant: "Ola's Own" };
  let link;
  await step(admin, "invite", async () => {
    await logIn(admin, owner);
    await nav(admin, "Members").click();
    await invite(admin).getByLabel("Email").fill(invitee.email);
    await invite(admin).getByLabel("Role").selectOption("viewer");
    await admin.getByRole("button", { name: "Invite" }).click();
    link = (await admin.locator("#invite-link").textContent()).trim();
    assert.match(link, /\/invite\?token=cri_/);
  });

  const nia = await newPage(browser);
  await step(nia, "accept-invite", async () => {
    await nia.goto(link);
    await nia.getByLabel("Your name").fill(invitee.name);
    await nia.getByLabel("Password").fill("another long password");
    await nia.getByRole("button", { name: "Join" }).click();
    // A viewer sees the team's job, and no way to add one.
    await nia.locator("tr[data-job]").filter({ hasText: "all-hands.mp4" }).waitFor();
    assert.equal(await nia.getByRole("heading", { name: "New job" }).count(), 0);
    assert.equal(await nav(nia, "Members").count(), 0);
  });

  // Someone with an organisation of their own is invited like anyone else:
  // the admin cannot tell that they have an account, and they are not a
  // member until they accept.
  const ola = await newPage(browser);
  await step(ola, "existing-user-signs-up", () => signUp(ola, existing));
  let olaLink;
  await step(admin, "invite-existing", async () => {
    await invite(admin).getByLabel("Email").fill(existing.email);
    await invite(admin).getByLabel("Role").selectOption("member");
    await admin.getByRole("button", { name: "Invite" }).click();
    olaLink = (await admin.locator("#invite-link").textContent()).trim();
    assert.match(olaLink, /\/invite\?token=cri_/);
    await admin.locator("tr[data-invitation]").filter({ hasText: existing.email }).waitFor();
    assert.equal(await admin.locator("tr[data-member]").filter({ hasText: existing.email }).count(), 0);
    // An admin changes a role on the spot (Nia joined after this page loaded).
    await admin.reload();
    const saved = admin.waitForResponse((r) => r.request().method() === "PATCH" && r.url().includes("/v1/members/"));
    saved.catch(() => undefined);
    await admin.getByLabel(`Role of ${invitee.name}`).selectOption("member");
    assert.equal((await saved).status(), 200);
  });
  // Ola sees the invitation, accepts it through its link, and is taken there...
  await step(ola, "accept-existing", async () => {
    await ola.reload();
    await ola.getByRole("region", { name: "Invitations for you" }).getByText("Ada's Studio").waitFor();
    await ola.goto(olaLink);
    await ola.getByRole("button", { name: "Accept the invitation" }).click();
    await ola.locator("tr[data-job]").filter({ hasText: "all-hands.mp4" }).waitFor();
    await ola.getByRole("heading", { name: "New job" }).waitFor();
    assert.equal(await ola.getByRole("region", { name: "Invitations for you" }).count(), 0);
  });
  // ...and switches between the two without logging in again.
  await step(ola, "switch-tenant", async () => {
    await ola.getByLabel("Tenant").selectOption({ label: `${existing.tenant} (owner)` });
    await ola.getByText("No jobs yet").waitFor();
    await ola.getByLabel("Tenant").selectOption({ label: "Ada's Studio (member)" });
    await ola.locator("tr[data-job]").filter({ hasText: "all-hands.mp4" }).waitFor();
  });
  // An invitation sent by mistake is revoked, and its link no longer joins.
  await step(admin, "revoke-invitation", async () => {
    const stray = uniqueEmail("stray");
    await invite(admin).getByLabel("Email").fill(stray);
    await admin.getByRole("button", { name: "Invite" }).click();
    const strayLink = (await admin.locator("#invite-link").textContent()).trim();
    admin.once("dialog", (d) => d.accept());
    await admin.getByRole("button", { name: `Revoke the invitation of ${stray}` }).click();
    await admin.locator("tr[data-invitation]").filter({ hasText: stray }).waitFor({ state: "detached" });
    const token = new URL(strayLink).searchParams.get("token");
    const r = await admin.request.post("/v1/auth/accept-invite", {
      data: { token, name: "Stray", password: "a long enough password" },
    });
    assert.equal(r.status(), 404);
  });
  for (const p of [admin, nia, ola]) await p.context().close();
});

test("the speaker library: add, find, merge, rename, upload a voice sample and delete speakers", () => speakerLibrary(browser));

test("a batch: upload an archive of recordings, watch it run, find recordings by metadata, cancel another", () =>
  batchArchive(browser));

test("every page passes axe's WCAG 2 A and AA checks, on a desktop and on a phone", async () => {
  assert.ok(jobUrl, "the first scenario made a job");
  const pages = ["/jobs", jobUrl, "/batches", "/review", "/speakers", "/members", "/settings/keys",
    "/settings/webhooks", "/settings/moderation", "/settings/transcription", "/settings/analysis", "/settings/audiograms",
    "/settings/usage"];
  for (const viewport of [{ width: 1280, height: 900 }, { width: 375, height: 740 }]) {
    const page = await newPage(browser, { viewport });
    await step(page, `a11y-login-${viewport.width}`, async () => {
      await checkA11y(page, "/login");
      // Without an account, the operator's page asks for its token.
      await checkA11y(page, "/fleet");
      await logIn(page, owner);
    });
    for (const path of pages)
      await step(page, `a11y-${viewport.width}-${path}`, () => checkA11y(page, path));
    // The operator's page: its token form, then the fleet (the tab keeps the token).
    await step(page, `a11y-${viewport.width}-/fleet`, async () => {
      await checkA11y(page, "/fleet");
      await showFleet(page, OPERATOR_TOKEN);
      await page.getByRole("table", { name: "Workers" }).waitFor();
      await checkA11y(page, "/fleet");
    });
    await page.context().close();
  }
});
