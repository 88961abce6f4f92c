// One WebSocket per signed-in org page tree: the org stream, reconnecting with backoff, keeping
// TanStack Query fresh (see orgStream.ts). Pages read its status and may listen to frames.
import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { accessToken } from "../auth/session";
import { bearerProtocols, socketUrl } from "../lib/reconnectingSocket";
import { connectOrgStream, type StreamFrame } from "./orgStream";

type Status = "connecting" | "open" | "waiting" | "stopped" | "unavailable";

interface StreamValue {
  status: Status;
  listen: (listener: (frame: StreamFrame) => void) => () => void;
}

const StreamContext = createContext<StreamValue>({ status: "unavailable", listen: () => () => {} });

/** Failed attempts in a row, never having opened, after which the stream is shown as unavailable
 *  (a server without the stream route) while it keeps retrying at its slowest pace. */
const UNAVAILABLE_AFTER = 3;

export function StreamProvider({ org, children }: { org: string; children: ReactNode }) {
  const queryClient = useQueryClient();
  const [status, setStatus] = useState<Status>("connecting");
  const listeners = useRef(new Set<(frame: StreamFrame) => void>());

  useEffect(() => {
    let failures = 0;
    let everOpen = false;
    const stream = connectOrgStream({
      org,
      queryClient,
      target: async () => {
        const token = await accessToken();
        if (!token) throw new Error("signed out");
        return { url: socketUrl(`/api/v1/orgs/${org}/stream`), protocols: bearerProtocols(token) };
      },
      onFrame: (frame) => listeners.current.forEach((listener) => listener(frame)),
      onStatus: (next) => {
        if (next === "open") everOpen = true;
        if (next === "waiting") failures++;
        if (next === "open") failures = 0;
        setStatus(!everOpen && failures >= UNAVAILABLE_AFTER ? "unavailable" : next);
      },
    });
    return () => stream.stop();
  }, [org, queryClient]);

  const listen = useCallback((listener: (frame: StreamFrame) => void) => {
    listeners.current.add(listener);
    return () => {
      listeners.current.delete(listener);
    };
  }, []);
  const value = useMemo<StreamValue>(() => ({ status, listen }), [status, listen]);
  return <StreamContext.Provider value={value}>{children}</StreamContext.Provider>;
}

export function useStreamStatus(): Status {
  return useContext(StreamContext).status;
}

export function useStreamFrames(listener: (frame: StreamFrame) => void): void {
  const { listen } = useContext(StreamContext);
  const latest = useRef(listener);
  latest.current = listener;
  useEffect(() => listen((frame) => latest.current(frame)), [listen]);
}
