// The dashboard end to end: headless Chromium (playwright-core driving Debian's /usr/bin/chromium)
// against the real gsm-server, gsm-agent and gsm-sim-7dtd. It signs in, adds a host and enrolls
// its agent with the command the page shows, runs jobs and watches their lines stream, cancels
// one, creates a schedule, invites a member who accepts in a browser of their own, creates and
// revokes an API key, creates an alert rule and sees its notification arrive live (the agent is
// killed), and switches orgs
// to see nothing of the other. Hostile output (markup, script tags, ANSI escapes, invalid UTF-8)
// must render as inert text. Every page is screenshotted in light and dark (e2e-output/) and
// checked with axe-core: no serious or critical violations. Exits non-zero on the first failure.
import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { Fleet, until } from "./fleet.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "e2e-output");
mkdirSync(out, { recursive: true });
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

const fleet = new Fleet();
let browser;
const failures = [];
const cspViolations = [];

function check(condition, message) {
  if (!condition) throw new Error(message);
}

async function step(name, fn) {
  const started = Date.now();
  try {
    await fn();
    console.log(`ok   ${name} (${Date.now() - started} ms)`);
  } catch (err) {
    console.log(`FAIL ${name}: ${err.message}`);
    failures.push(name);
    throw err;
  }
}

/** axe-core on the page as it is; serious and critical violations fail the run. */
async function axe(page, name) {
  // Evaluated through the DevTools protocol, which the page's CSP does not govern.
  await page.evaluate(`${axeSource}\n;undefined`);
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await window.axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 3) }));
  });
  const bad = result.filter((v) => v.impact === "serious" || v.impact === "critical");
  check(bad.length === 0, `axe on ${name}: ${JSON.stringify(bad)}`);
  return result.length;
}

/** Screenshots in both themes and axe in both. */
async function capture(page, name) {
  for (const theme of ["light", "dark"]) {
    const isDark = await page.evaluate(() => document.documentElement.classList.contains("dark"));
    if ((theme === "dark") !== isDark) {
      const toggle = page.getByRole("button", { name: /Use the (dark|light) theme/ });
      // A modal dialog makes the page behind it inert; then the class is switched directly.
      const modal = (await page.locator("dialog[open]").count()) > 0;
      if (!modal && (await toggle.count())) await toggle.click();
      else await page.evaluate((dark) => document.documentElement.classList.toggle("dark", dark), theme === "dark");
    }
    await page.waitForTimeout(50); // one frame for the theme's repaint before the screenshot
    await page.screenshot({ path: join(out, `${name}-${theme}.png`), fullPage: true });
    await axe(page, `${name} (${theme})`);
  }
}

try {
  await fleet.startServer();
  await fleet.startSim();
  // A second org, owned by the same user, with a host of its own the first org must never show.
  const token = await fleet.userToken();
  const beta = await fleet.api("POST", "/api/v1/orgs", { name: "beta" }, token);
  await fleet.api("POST", `/api/v1/orgs/${beta.id}/hosts`, { name: "beta-only-host" }, token);

  browser = await chromium.launch({ executablePath: process.env.GSM_CHROMIUM ?? "/usr/bin/chromium", args: ["--no-sandbox"] });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.on("console", (msg) => {
    if (msg.type() === "error" && /Content Security Policy/.test(msg.text())) cspViolations.push(msg.text());
  });
  page.on("pageerror", (err) => cspViolations.push(`page error: ${err.message}`));

  await step("the dashboard redirects to sign-in, and signing in lands on the overview", async () => {
    await page.goto(fleet.base + "/");
    await page.waitForURL(/\/login$/);
    await capture(page, "login");
    await page.getByLabel("Email").fill(fleet.email);
    await page.getByLabel("Password").fill(fleet.password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(/\/orgs\/[^/]+\/overview$/);
    check(page.url().includes(fleet.org), `landed in ${page.url()}, not org alpha ${fleet.org}`);
  });

  let host;
  await step("add a host, enroll its agent with the shown command, and see it online", async () => {
    await page.getByRole("link", { name: "Hosts" }).first().click();
    await page.getByRole("button", { name: "Add host" }).click();
    await page.getByRole("dialog").getByLabel("Name").fill("e2e-1");
    await page.getByRole("button", { name: "Create host" }).click();
    const command = await page.getByTestId("enroll-command").textContent();
    check(command.startsWith(`gsm-agent enroll --server ${fleet.base} --token `), `enroll command: ${command}`);
    await capture(page, "add-host");
    host = await fleet.enrollAndRun(command);
    await fleet.api("PUT", `/api/v1/orgs/${fleet.org}/hosts/${host}/games/main`, {
      game: "7dtd",
      settings: { console: { address: "127.0.0.1", port: fleet.simPort, timeout_ms: 3000 } },
    });
    await page.keyboard.press("Escape");
    await page.getByTestId("hosts-table").getByText("online").waitFor({ timeout: 30_000 });
    await capture(page, "hosts");
  });

  await step("the host's detail shows its machine and its game", async () => {
    await page.getByRole("link", { name: "e2e-1" }).click();
    await page.getByText("Players seen", { exact: true }).waitFor();
    await page.getByText(/\(7dtd\)/).waitFor({ timeout: 30_000 });
    // The heartbeat history: four charts, and the CPU chart draws a line once a flushed heartbeat
    // is in the store (each range pick asks the server again).
    for (const name of ["CPU load (1 min)", "Memory used", "Disk used (fullest)", "Players online"]) {
      await page.getByRole("img", { name }).waitFor();
    }
    const cpu = page.getByRole("img", { name: "CPU load (1 min)" });
    const deadline = Date.now() + 30_000;
    for (let range = 0; (await cpu.locator("path").count()) === 0; range++) {
      check(Date.now() < deadline, "the CPU chart drew no line within 30 s of heartbeats");
      await page.getByRole("button", { name: range % 2 ? "1 hour" : "24 hours" }).click();
      await page.waitForTimeout(500);
    }
    await page.getByRole("button", { name: "1 hour" }).click();
    check((await page.getByRole("button", { name: "1 hour" }).getAttribute("aria-pressed")) === "true", "the 1 hour range is not shown as picked");
    await capture(page, "host-detail");
  });

  await step("run a job and watch its lines stream live, coloured, as inert text", async () => {
    await page.goto(`${fleet.base}/orgs/${fleet.org}/jobs/new?host=${host}`);
    // The host's allowed programs are offered (its agent reported its policy's rules), not typed.
    const picker = page.getByLabel("Program (as the host's policy allows it)");
    await picker.locator("option", { hasText: "/usr/bin/printf" }).first().waitFor({ state: "attached", timeout: 30_000 });
    await picker.selectOption({ label: join(fleet.dir, "stream.sh") });
    await capture(page, "new-job");
    await page.getByRole("button", { name: "Run the job" }).click();
    await page.waitForURL(/\/jobs\/[0-9a-f-]{36}$/);
    const viewer = page.getByTestId("log-viewer");
    // Lines arrive while the job still runs, then the rest once it ends.
    await viewer.getByText("stream line 3", { exact: false }).waitFor({ timeout: 30_000 });
    const stateWhileStreaming = await page.getByTestId("job-state").textContent();
    const linesWhileStreaming = await viewer.locator("[data-line]").count();
    check(linesWhileStreaming < 30, `expected a partial output while streaming, saw ${linesWhileStreaming} lines (${stateWhileStreaming})`);
    await viewer.getByText("stream line 30", { exact: false }).waitFor({ timeout: 30_000 });
    await page.getByTestId("log-status").getByText("complete").waitFor({ timeout: 30_000 });
    const colour = await viewer.getByText("stream line 1", { exact: true }).evaluate((el) => getComputedStyle(el).color);
    check(colour === "rgb(13, 188, 121)", `ANSI green rendered as ${colour}`);
    check((await viewer.locator("b").count()) === 0, "a <b> in a log line became an element");
    await page.getByTestId("job-state").getByText("succeeded").waitFor({ timeout: 30_000 });
    await capture(page, "job-detail");
  });

  await step("hostile output renders inert: markup, script tags, escapes, invalid UTF-8", async () => {
    const payload = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">';
    const job = await fleet.api("POST", `/api/v1/orgs/${fleet.org}/jobs`, {
      host,
      kind: { type: "command", program: "/usr/bin/printf", args: [`${payload}\\n\\033]0;title\\007\\033[2J\\033[31mred\\033[0m \\377\\376 end\\n`] },
    });
    await page.goto(`${fleet.base}/orgs/${fleet.org}/jobs/${job.id}`);
    const viewer = page.getByTestId("log-viewer");
    await viewer.getByText("end", { exact: false }).waitFor({ timeout: 30_000 });
    const text = await viewer.innerText();
    check(text.includes(payload), `the payload is not shown literally: ${text}`);
    check(text.includes("red \ufffd\ufffd end"), `invalid UTF-8 and escapes not handled: ${JSON.stringify(text)}`);
    check(!text.includes("\x1b") && !text.includes("title"), "an escape sequence leaked into the text");
    check((await viewer.locator("script, img").count()) === 0, "markup in a log line became elements");
    check((await page.evaluate(() => window.__pwned)) === undefined, "a script in a log line ran");
  });

  await step("search and download the output", async () => {
    await page.getByLabel("Search the output").fill("red");
    await page.getByTestId("log-matches").getByText("1 of 1").waitFor();
    const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Download" }).click()]);
    const file = await download.path();
    check(readFileSync(file, "utf8").includes("red"), "the download lacks the output");
  });

  await step("a game action from the form, and hostile chat in the host's events as inert text", async () => {
    // Markup, a script tag, ANSI escapes and a character past ASCII, said through the game: the
    // game logs it as server chat (the simulator writes Latin-1, so "é" reaches the agent as a
    // byte that is not UTF-8), the agent parses it into a chat event, and the host's events show
    // it as text, the invalid byte as U+FFFD.
    const hostile = '<img src=x onerror="window.__pwned=3"><script>window.__pwned=4</script> \u001b[31mred\u001b[0m <b>bold</b> café';
    await page.goto(`${fleet.base}/orgs/${fleet.org}/jobs/new?host=${host}`);
    await page.getByLabel("Game action").check();
    await page.getByLabel("Action", { exact: true }).selectOption("say");
    await page.getByLabel("Message").fill(hostile);
    await page.getByRole("button", { name: "Run the job" }).click();
    await page.getByTestId("job-state").getByText("succeeded").waitFor({ timeout: 30_000 });
    await page.goto(`${fleet.base}/orgs/${fleet.org}/hosts/${host}`);
    // The simulated server logs several events a second: the newest 20 of all kinds soon hold no
    // chat, so the card is filtered to chat (on the server) to find it.
    await page.getByLabel("Event kind").selectOption("chat");
    const events = page.getByTestId("host-events");
    await events.getByText('<script>window.__pwned=4</script>', { exact: false }).first().waitFor({ timeout: 30_000 });
    const said = await events.locator("li", { hasText: "window.__pwned=4" }).first().textContent();
    check(said.includes('<img src=x onerror="window.__pwned=3">') && said.includes("[31mred") && said.includes("<b>bold</b>"), `the chat line is not shown as its text: ${said}`);
    check(said.includes("caf\ufffd"), `the invalid UTF-8 byte is not shown as U+FFFD: ${said}`);
    check((await events.locator("img, script, b").count()) === 0, "a chat message became markup");
    check((await page.evaluate(() => window.__pwned)) === undefined, "a chat message ran script");
    await events.getByText("hi all", { exact: false }).first().waitFor({ timeout: 30_000 });
    await capture(page, "host-chat");
  });

  await step("cancel a running job", async () => {
    const job = await fleet.api("POST", `/api/v1/orgs/${fleet.org}/jobs`, { host, kind: { type: "command", program: "/bin/sleep", args: ["60"] } });
    await page.goto(`${fleet.base}/orgs/${fleet.org}/jobs/${job.id}`);
    await page.getByTestId("job-state").getByText("running").waitFor({ timeout: 30_000 });
    await page.getByRole("button", { name: "Cancel" }).click();
    await page.getByTestId("job-state").getByText("cancelled").waitFor({ timeout: 30_000 });
  });

  await step("the jobs list filters by state and creation time", async () => {
    await page.goto(`${fleet.base}/orgs/${fleet.org}/jobs`);
    await page.getByTestId("jobs-table").waitFor();
    await page.getByLabel("State").selectOption("cancelled");
    await until("the filtered list", async () => (await page.getByTestId("jobs-table").locator("tbody tr").count()) === 1);
    // Every job of this run was created within the hour; `since` goes to the server.
    await page.getByLabel("Created").selectOption({ label: "Last hour" });
    await page.waitForURL(/period=1h/);
    await until("the list within the hour", async () => (await page.getByTestId("jobs-table").locator("tbody tr").count()) === 1);
    await capture(page, "jobs");
  });

  await step("create a schedule and see its next fire time in its zone", async () => {
    await page.getByRole("link", { name: "Schedules" }).first().click();
    await page.getByRole("button", { name: "New schedule" }).click();
    await page.getByRole("dialog").getByLabel("Name").fill("nightly-echo");
    await page.getByLabel("Time zone").fill("Europe/Berlin");
    await page.getByRole("dialog").getByLabel("Host").selectOption({ label: "e2e-1" });
    await page.getByRole("dialog").getByLabel("Program").fill("/bin/echo");
    await page.getByLabel(/Arguments/).fill("nightly");
    await page.getByRole("button", { name: "Create schedule" }).click();
    await page.getByTestId("schedules-table").getByText("Europe/Berlin").waitFor();
    await capture(page, "schedules");
  });

  await step("invite a member, create an API key shown once, and revoke it", async () => {
    await page.getByRole("link", { name: "Settings" }).first().click();
    await page.getByLabel("Email").fill("newcomer@e2e.test");
    await page.getByLabel("Role", { exact: true }).first().selectOption("operator");
    await page.getByRole("button", { name: "Invite" }).click();
    const link = await page.getByTestId("invite-token").locator("code").textContent();
    check(link.startsWith(`${fleet.base}/invite#`), `the invite link is ${link}`);
    await page.getByTestId("invites-table").getByText("newcomer@e2e.test").waitFor();
    // The invitee opens the link in a browser of their own, creates their account and is in.
    const invitee = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const theirs = await invitee.newPage();
    theirs.on("pageerror", (err) => cspViolations.push(`invitee page error: ${err.message}`));
    await theirs.goto(link);
    await capture(theirs, "accept-invite");
    await theirs.getByLabel(/^Email/).fill("newcomer@e2e.test");
    await theirs.getByLabel("Your name").fill("New <b>Comer</b>");
    await theirs.getByLabel("Password").fill("newcomer-password-long");
    await theirs.getByRole("button", { name: "Accept the invite" }).click();
    await theirs.waitForURL(new RegExp(`/orgs/${fleet.org}/overview$`));
    await theirs.getByRole("link", { name: "Settings" }).first().click();
    await theirs.getByText("Your role (operator) can read members only", { exact: false }).waitFor();
    await theirs.getByTestId("members-table").getByText("New <b>Comer</b>").waitFor();
    check((await theirs.getByTestId("members-table").locator("b").count()) === 0, "markup in a name became an element");
    await invitee.close();
    await page.getByLabel("Name", { exact: true }).fill("ci-key");
    await page.getByRole("button", { name: "Create key" }).click();
    const secret = await page.getByTestId("api-key-secret").locator("code").textContent();
    check(/^gsm_/.test(secret), `the key shown is ${secret}`);
    const ok = await fetch(`${fleet.base}/api/v1/orgs/${fleet.org}/hosts`, { headers: { Authorization: `Bearer ${secret}` } });
    check(ok.status === 200, `the new key got ${ok.status}`);
    await page.getByRole("button", { name: "Revoke ci-key" }).click();
    await page.getByTestId("api-keys-table").getByText("revoked").waitFor();
    const refused = await fetch(`${fleet.base}/api/v1/orgs/${fleet.org}/hosts`, { headers: { Authorization: `Bearer ${secret}` } });
    check(refused.status === 401, `the revoked key got ${refused.status}`);
    await capture(page, "settings");
  });

  await step("switch orgs and see nothing of the other", async () => {
    await page.getByTestId("org-switcher").click();
    await page.getByRole("menuitem", { name: /beta/ }).click();
    await page.waitForURL(new RegExp(`/orgs/${beta.id}/overview$`));
    await page.getByRole("link", { name: "Hosts" }).first().click();
    await page.getByText("beta-only-host").waitFor();
    check((await page.getByText("e2e-1").count()) === 0, "org beta shows alpha's host");
    await page.getByRole("link", { name: "Jobs" }).first().click();
    await page.getByText("No jobs match.").waitFor();
    // And a deep link to alpha's host, opened from beta's token, is not found there.
    await page.goto(`${fleet.base}/orgs/${beta.id}/hosts/${host}`);
    await page.getByRole("alert").getByText(/not found/).waitFor();
  });

  await step("the overview counts the fleet", async () => {
    await page.goto(`${fleet.base}/orgs/${fleet.org}/overview`);
    await page.getByTestId("overview-counts").getByText("Online", { exact: true }).waitFor();
    await until("one host online in the counts", async () => /Online\s*1\b/.test(await page.getByTestId("overview-counts").innerText()));
    await capture(page, "overview");
  });

  await step("an alert rule raises an in-app notification that arrives live in the bell", async () => {
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.goto(`${fleet.base}/orgs/${fleet.org}/alerts`);
    await page.getByRole("button", { name: "New rule" }).click();
    const form = page.getByRole("dialog");
    await form.getByLabel("Name", { exact: true }).fill("e2e host offline");
    await form.getByLabel("Event", { exact: true }).fill("host.offline");
    await form.getByLabel("Host", { exact: true }).selectOption({ label: "e2e-1" });
    await form.getByLabel("Severity", { exact: true }).selectOption("critical");
    // The server's 422 names the field; the form shows its message there.
    await form.getByLabel(/^Raise after/).fill("0");
    await form.getByLabel("…within seconds").fill("60");
    await page.getByRole("button", { name: "Create rule" }).click();
    await form.locator('[data-field-error="threshold.count"]').waitFor();
    check((await form.getByLabel(/^Raise after/).getAttribute("aria-invalid")) === "true", "the threshold field is not marked invalid");
    await capture(page, "alert-rule-error");
    await form.getByLabel(/^Raise after/).fill("");
    await form.getByLabel("…within seconds").fill("");
    await page.getByRole("button", { name: "Create rule" }).click();
    await page.getByTestId("alert-rules-table").getByText("e2e host offline").waitFor();
    await capture(page, "alerts");
    await page.getByTestId("stream-status").getByText("live").waitFor({ timeout: 30_000 });
    const before = Number(await page.getByTestId("unread-count").textContent());
    // The agent dies without a goodbye: missed heartbeats make the host offline, the rule fires.
    fleet.agent.child.kill("SIGKILL");
    await until("the bell to count the new notification", async () => Number(await page.getByTestId("unread-count").textContent()) > before, 60_000);
    await page.getByTestId("notifications-bell").click();
    await page.getByRole("menu").getByText("e2e host offline", { exact: false }).first().waitFor();
    await page.keyboard.press("Escape");
    await page.goto(`${fleet.base}/orgs/${fleet.org}/overview`);
    await page.getByTestId("firing-alerts").waitFor();
  });

  await step("a phone-width viewport gets the menu drawer", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    const opener = page.getByRole("button", { name: "Open the menu" });
    await opener.click();
    const drawer = page.getByRole("dialog", { name: "Menu" });
    await drawer.waitFor();
    // Escape closes it and the keyboard lands back on the menu button.
    await page.keyboard.press("Escape");
    await drawer.waitFor({ state: "detached" });
    check(await opener.evaluate((el) => el === document.activeElement), "focus did not return to the menu button after Escape");
    await opener.click();
    await page.screenshot({ path: join(out, "menu-phone.png") });
    await drawer.getByRole("link", { name: "Jobs" }).click();
    await page.waitForURL(/\/jobs$/);
    await capture(page, "jobs-phone");
  });

  await step("no Content-Security-Policy violations or page errors", async () => {
    check(cspViolations.length === 0, cspViolations.join("\n"));
  });
} catch (err) {
  if (!failures.length) console.log(`FAIL setup: ${err.stack ?? err}`);
  for (const name of ["server", "agent", "sim"]) {
    try {
      console.log(`--- ${name}.log (tail)\n${readFileSync(join(fleet.dir, `${name}.log`), "utf8").split("\n").slice(-30).join("\n")}`);
    } catch {
      /* not started */
    }
  }
  process.exitCode = 1;
} finally {
  await browser?.close();
  fleet.stop();
}
console.log(process.exitCode ? "e2e: FAILED" : `e2e: all steps passed; screenshots in ${out}`);
