// @vitest-environment node
import { afterEach, describe, expect, it } from "vitest";
import { QueryClient } from "@tanstack/react-query";
import { WebSocket, WebSocketServer } from "ws";
import type { SocketLike } from "../lib/reconnectingSocket";
import { connectOrgStream, keysFor } from "./orgStream";

const servers: WebSocketServer[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
});

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

describe("the org stream", () => {
  it("maps frame types to the queries they make stale", () => {
    expect(keysFor("o", { type: "job", id: "j" })).toEqual([["o", "jobs"], ["o", "overview"]]);
    expect(keysFor("o", { type: "presence" })).toEqual([["o", "hosts"], ["o", "overview"]]);
    expect(keysFor("o", { type: "something-new" })).toEqual([]);
  });

  it("invalidates on frames, ignores garbage, and refetches everything after a reconnect", async () => {
    const server = new WebSocketServer({ port: 0, host: "127.0.0.1", handleProtocols: () => "gsm.v1" });
    servers.push(server);
    await new Promise((resolve) => server.once("listening", resolve));
    const port = (server.address() as { port: number }).port;
    let connections = 0;
    server.on("connection", (socket) => {
      connections++;
      if (connections === 1) {
        socket.send("not json <script>");
        socket.send(JSON.stringify({ type: "presence", host: "h", presence: "offline" }));
        setTimeout(() => socket.terminate(), 20);
      }
    });

    const queryClient = new QueryClient();
    const fresh = (key: unknown[]) => queryClient.setQueryData(key, 1);
    fresh(["org", "hosts"]);
    fresh(["org", "jobs"]);
    fresh(["other", "hosts"]);
    const stale = (key: unknown[]) => queryClient.getQueryState(key)?.isInvalidated ?? false;
    const frames: string[] = [];
    const stream = connectOrgStream({
      org: "org",
      queryClient,
      target: () => ({ url: `ws://127.0.0.1:${port}/api/v1/orgs/org/stream`, protocols: ["gsm.v1", "gsm.bearer.t"] }),
      onFrame: (frame) => frames.push(frame.type),
      create: (url, protocols) => new WebSocket(url, protocols) as unknown as SocketLike,
      baseDelayMs: 10,
    });
    await waitFor(() => frames.length === 1);
    expect(stale(["org", "hosts"])).toBe(true);
    expect(stale(["org", "jobs"])).toBe(false);
    fresh(["org", "hosts"]);
    await waitFor(() => connections === 2 && stale(["org", "jobs"]));
    stream.stop();
    expect(stale(["org", "hosts"])).toBe(true);
    expect(stale(["other", "hosts"])).toBe(false);
  });
});
