// The org's live stream (`GET /api/v1/orgs/{org}/stream`, a WebSocket of JSON frames
// `{"type": "job" | "presence" | "alert" | "notification", ...}`) turned into TanStack Query
// invalidations: a frame marks the queries it touches stale, so the pages refetch what changed,
// and a reconnect marks everything stale, since frames sent while the socket was down are gone.
import type { QueryClient } from "@tanstack/react-query";
import { ReconnectingSocket, type SocketFactory } from "../lib/reconnectingSocket";

export interface StreamFrame {
  type: string;
  [key: string]: unknown;
}

/** The query keys a frame makes stale (every key starts with the org). */
export function keysFor(org: string, frame: StreamFrame): unknown[][] {
  switch (frame.type) {
    case "job":
      return [[org, "jobs"], [org, "overview"]];
    case "presence":
      return [[org, "hosts"], [org, "overview"]];
    case "alert":
      return [[org, "alerts"], [org, "overview"]];
    case "notification":
      return [[org, "notifications"]];
    default:
      return [];
  }
}

export interface OrgStreamOptions {
  org: string;
  queryClient: QueryClient;
  target: () => Promise<{ url: string; protocols: string[] }> | { url: string; protocols: string[] };
  onFrame?: (frame: StreamFrame) => void;
  onStatus?: (status: "connecting" | "open" | "waiting" | "stopped") => void;
  create?: SocketFactory;
  baseDelayMs?: number;
}

export function connectOrgStream(options: OrgStreamOptions): ReconnectingSocket {
  const { org, queryClient } = options;
  const socket = new ReconnectingSocket({
    target: options.target,
    create: options.create,
    baseDelayMs: options.baseDelayMs,
    onStatus: options.onStatus,
    onOpen: (reconnected) => {
      if (reconnected) void queryClient.invalidateQueries({ queryKey: [org] });
    },
    onMessage: (text) => {
      let frame: StreamFrame;
      try {
        frame = JSON.parse(text) as StreamFrame;
      } catch {
        return; // not JSON: ignore rather than break the stream
      }
      if (typeof frame?.type !== "string") return;
      for (const queryKey of keysFor(org, frame)) void queryClient.invalidateQueries({ queryKey });
      options.onFrame?.(frame);
    },
  });
  socket.start();
  return socket;
}
