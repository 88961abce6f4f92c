// Small formatters shared by the pages.
import type { Tone } from "../components/ui/card";

export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return "never";
  const seconds = Math.round((now - Date.parse(iso)) / 1000);
  if (!Number.isFinite(seconds)) return "unknown";
  if (seconds < 5) return "just now";
  if (seconds < 60) return `${seconds}s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h ago`;
  return `${Math.floor(seconds / 86400)}d ago`;
}

export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value >= 10 || unit === 0 ? 0 : 1)} ${units[unit]}`;
}

export function presenceTone(presence: string | null | undefined): Tone {
  return presence === "online" ? "good" : presence === "stale" ? "warn" : presence === "offline" ? "bad" : "neutral";
}

export function jobTone(state: string): Tone {
  switch (state) {
    case "succeeded":
      return "good";
    case "running":
    case "dispatched":
      return "info";
    case "queued":
      return "neutral";
    case "cancelled":
      return "warn";
    default:
      return "bad";
  }
}

export const TERMINAL_STATES = new Set(["succeeded", "failed", "timed_out", "cancelled", "lost", "rejected"]);

export function shortId(id: string): string {
  return id.slice(0, 8);
}
