// @vitest-environment node
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket, WebSocketServer } from "ws";
import { ReconnectingSocket, type SocketLike } from "./reconnectingSocket";

const servers: WebSocketServer[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
});

async function mockServer(): Promise<{ server: WebSocketServer; port: number }> {
  const server = new WebSocketServer({ port: 0, host: "127.0.0.1", handleProtocols: (set) => (set.has("gsm.v1") ? "gsm.v1" : false) });
  servers.push(server);
  await new Promise((resolve) => server.once("listening", resolve));
  return { server, port: (server.address() as { port: number }).port };
}

const create = (url: string, protocols: string[]) => new WebSocket(url, protocols) as unknown as SocketLike;

function waitFor(check: () => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const tick = () => {
      if (check()) resolve();
      else if (Date.now() - started > 5000) reject(new Error("timed out waiting"));
      else setTimeout(tick, 5);
    };
    tick();
  });
}

describe("ReconnectingSocket", () => {
  it("sends the bearer subprotocol, reconnects after a drop and resumes where it left off", async () => {
    const { server, port } = await mockServer();
    const seen: { url: string; protocol: string | undefined }[] = [];
    server.on("connection", (socket, request) => {
      seen.push({ url: request.url ?? "", protocol: request.headers["sec-websocket-protocol"] });
      const after = Number(new URL(request.url ?? "", "http://x").searchParams.get("after_seq") ?? -1);
      socket.send(JSON.stringify({ seq: after + 1 }));
      // The first connection drops right after one message.
      if (seen.length === 1) setTimeout(() => socket.terminate(), 10);
    });
    let last = -1;
    const opens: boolean[] = [];
    const socket = new ReconnectingSocket({
      target: () => ({ url: `ws://127.0.0.1:${port}/follow?after_seq=${last}`, protocols: ["gsm.v1", "gsm.bearer.tok"] }),
      onMessage: (text) => {
        last = (JSON.parse(text) as { seq: number }).seq;
      },
      onOpen: (reconnected) => opens.push(reconnected),
      create,
      baseDelayMs: 20,
    });
    socket.start();
    await waitFor(() => last === 1);
    socket.stop();
    expect(opens).toEqual([false, true]);
    expect(seen.map((s) => s.url)).toEqual(["/follow?after_seq=-1", "/follow?after_seq=0"]);
    expect(seen[0]!.protocol?.split(",").map((p) => p.trim())).toEqual(["gsm.v1", "gsm.bearer.tok"]);
  });

  it("backs off exponentially with full jitter, capped, while the server is down", () => {
    const timers: number[] = [];
    const socket = new ReconnectingSocket({
      target: () => ({ url: "ws://127.0.0.1:1/", protocols: [] }),
      onMessage: () => {},
      baseDelayMs: 100,
      maxDelayMs: 1000,
      random: () => 0.999,
      setTimer: (_fn, ms) => timers.push(ms),
    });
    const delays = Array.from({ length: 6 }, () => socket.nextDelay());
    expect(delays).toEqual([99, 199, 399, 799, 999, 999]);
    const low = new ReconnectingSocket({ target: () => ({ url: "", protocols: [] }), onMessage: () => {}, random: () => 0 });
    expect(low.nextDelay()).toBe(0);
  });

  it("stops for good: no reconnect after stop()", async () => {
    const { server, port } = await mockServer();
    let connections = 0;
    server.on("connection", () => connections++);
    const socket = new ReconnectingSocket({
      target: () => ({ url: `ws://127.0.0.1:${port}/`, protocols: ["gsm.v1"] }),
      onMessage: () => {},
      create,
      baseDelayMs: 5,
    });
    socket.start();
    await waitFor(() => connections === 1);
    socket.stop();
    await new Promise((r) => setTimeout(r, 100));
    expect(connections).toBe(1);
  });
});
