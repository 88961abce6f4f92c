// A job's output, live: one follower WebSocket (`…/logs/follow`) that sends the stored history
// page by page, then new chunks as they are stored, and closes once the output is complete. On a
// drop it reconnects with `after_seq` = the last chunk it kept, so nothing is lost or repeated.
// Renders are batched to one per animation frame however fast lines arrive.
import { useEffect, useRef, useState } from "react";
import { accessToken } from "../auth/session";
import { LogBuffer, type Chunk } from "./logBuffer";
import { ReconnectingSocket, bearerProtocols, socketUrl, type SocketFactory } from "./reconnectingSocket";

export type FollowStatus = "connecting" | "live" | "reconnecting" | "complete";

export interface JobLogs {
  buffer: LogBuffer;
  version: number;
  status: FollowStatus;
}

export function followUrl(org: string, job: string, lastSeq: number): string {
  const after = lastSeq >= 0 ? `&after_seq=${lastSeq}` : "";
  return socketUrl(`/api/v1/orgs/${org}/jobs/${job}/logs/follow?limit=1000${after}`);
}

export function useJobLogs(org: string, job: string, create?: SocketFactory): JobLogs {
  const bufferRef = useRef<LogBuffer>(new LogBuffer());
  const [version, setVersion] = useState(0);
  const [status, setStatus] = useState<FollowStatus>("connecting");

  useEffect(() => {
    const buffer = new LogBuffer();
    bufferRef.current = buffer;
    setVersion(0);
    setStatus("connecting");
    let frame: number | null = null;
    const render = () => {
      if (frame !== null) return;
      frame = requestAnimationFrame(() => {
        frame = null;
        setVersion(buffer.version);
      });
    };
    const socket = new ReconnectingSocket({
      create,
      target: async () => {
        const token = await accessToken();
        if (!token) throw new Error("signed out");
        return { url: followUrl(org, job, buffer.lastSeq), protocols: bearerProtocols(token) };
      },
      onStatus: (next) => {
        if (next === "open") setStatus("live");
        else if (next === "waiting") setStatus("reconnecting");
      },
      onMessage: (text) => {
        const page = JSON.parse(text) as { chunks: Chunk[]; complete: boolean };
        buffer.append(page.chunks);
        if (page.complete) {
          buffer.finish();
          socket.stop();
          setStatus("complete");
        }
        render();
      },
    });
    socket.start();
    return () => {
      socket.stop();
      if (frame !== null) cancelAnimationFrame(frame);
    };
  }, [org, job, create]);

  return { buffer: bufferRef.current, version, status };
}
