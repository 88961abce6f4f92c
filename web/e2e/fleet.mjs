// The real parts the e2e run drives: gsm-server (SQLite in a temp dir, an org with its owner user
// from `gsm-server init`), gsm-sim-7dtd, and gsm-agent enrolled with a token the dashboard showed.
// Readiness is read from each process's log or health endpoint, never waited for blindly.
import { spawn } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

export const bins = {
  server: process.env.GSM_SERVER_BIN,
  agent: process.env.GSM_AGENT_BIN,
  sim: process.env.GSM_SIM_BIN,
};

export async function until(what, check, timeoutMs = 20_000) {
  const started = Date.now();
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export class Fleet {
  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), "gsm-web-e2e-"));
    this.children = [];
  }

  spawn(name, command, args, env = {}) {
    const log = join(this.dir, `${name}.log`);
    const fd = openSync(log, "w");
    const child = spawn(command, args, { stdio: ["ignore", fd, fd], env: { ...process.env, NO_COLOR: "1", ...env } });
    this.children.push(child);
    return { child, log, text: () => readFileSync(log, "utf8") };
  }

  async run(command, args, env = {}) {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    const code = await new Promise((resolve) => child.on("close", resolve));
    if (code !== 0) throw new Error(`${command} ${args.join(" ")} exited ${code}: ${err}`);
    return out;
  }

  async startServer() {
    const password = "e2e-owner-password-long";
    const init = await this.run(
      bins.server,
      ["init", "--data-dir", join(this.dir, "server"), "--org", "alpha", "--email", "owner@e2e.test", "--password-env", "GSM_E2E_PASSWORD"],
      { GSM_E2E_PASSWORD: password },
    );
    const org = JSON.parse(init.slice(init.indexOf("{")));
    this.org = org.org;
    this.apiKey = org.api_key;
    this.email = "owner@e2e.test";
    this.password = password;
    const server = this.spawn("server", bins.server, ["serve", "--data-dir", join(this.dir, "server"), "--listen", "127.0.0.1:0"], {
      RUST_LOG: "info",
    });
    this.base = await until("gsm-server to listen", async () => {
      const match = /gsm-server listening.*addr=([0-9.:]+)/.exec(server.text());
      if (!match) return null;
      const base = `http://${match[1]}`;
      const ready = await fetch(`${base}/readyz`).then((r) => r.ok, () => false);
      return ready ? base : null;
    });
    this.server = server;
  }

  async api(method, path, body, token = this.apiKey) {
    const response = await fetch(`${this.base}${path}`, {
      method,
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
    return text ? JSON.parse(text) : null;
  }

  async userToken() {
    const pair = await fetch(`${this.base}/api/v1/auth/login`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ email: this.email, password: this.password }),
    }).then((r) => r.json());
    return pair.access_token;
  }

  async startSim() {
    const sim = this.spawn("sim", bins.sim, ["--listen", "127.0.0.1:0", "--script-speed", "20", "--latin1"]);
    this.simPort = await until("the simulator to listen", () => {
      const first = sim.text().split("\n")[0]?.trim() ?? "";
      const port = Number(first.split(":").pop());
      return Number.isInteger(port) && port > 0 ? port : null;
    });
  }

  /** A policy with a root, echo, printf, seq, sleep and the streaming scripts, all owned by us (0644). */
  writePolicy() {
    const root = join(this.dir, "root");
    mkdirSync(root, { recursive: true });
    const scripts = ["stream.sh", "flood.sh"].map((name) => {
      const script = join(this.dir, name);
      copyFileSync(join(here, name), script);
      chmodSync(script, 0o755);
      return script;
    });
    chmodSync(this.dir, 0o755);
    const policy = join(this.dir, "policy.toml");
    writeFileSync(
      policy,
      `version = 1
roots = [${JSON.stringify(root)}]

[limits]
max_timeout_secs = 120
default_timeout_secs = 60
kill_grace_secs = 1
max_output_cap_bytes = 16777216
default_output_cap_bytes = 16777216

[[program]]
path = "/bin/echo"
repeat = { regex = '(?s).*' }

[[program]]
path = "/usr/bin/printf"
repeat = { regex = '(?s).*' }

[[program]]
path = "/usr/bin/seq"
args = [{ int = { min = 1, max = 1000000 } }]

[[program]]
path = "/bin/sleep"
args = [{ int = { min = 0, max = 120 } }]
${scripts.map((script) => `\n[[program]]\npath = ${JSON.stringify(script)}\n`).join("")}`,
    );
    chmodSync(policy, 0o644);
    return policy;
  }

  /** Creates a host through the API and enrolls and starts an agent for it. */
  async hostWithAgent(name) {
    const created = await this.api("POST", `/api/v1/orgs/${this.org}/hosts`, { name });
    return this.enrollAndRun(`gsm-agent enroll --server ${this.base} --token ${created.join_token}`);
  }

  async enrollAndRun(command) {
    const token = /--token (\S+)/.exec(command)?.[1];
    const server = /--server (\S+)/.exec(command)?.[1];
    if (!token || !server) throw new Error(`not an enroll command: ${command}`);
    const state = join(this.dir, "agent");
    await this.run(bins.agent, ["enroll", "--server", server, "--token", token, "--state-dir", state]);
    const policy = this.writePolicy();
    const credential = JSON.parse(readFileSync(join(state, "credential.json"), "utf8"));
    this.host = credential.host;
    this.agent = this.spawn("agent", bins.agent, ["run", "--state-dir", state, "--policy", policy]);
    return this.host;
  }

  stop() {
    for (const child of this.children) child.kill("SIGTERM");
  }
}
