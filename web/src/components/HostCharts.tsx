// A host's heartbeat history as four charts (CPU load, memory, disk, players) over a range the
// user picks (1 h, 24 h, 7 d), from `GET …/hosts/{host}/metrics` (per-minute points, kept 7 days).
import { useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { api, errorMessage, unwrap, type Schemas } from "../api/client";
import { bytes } from "../lib/format";
import type { Point } from "../lib/chart";
import { LineChart } from "./LineChart";
import { Card, CardTitle, ErrorNote } from "./ui/card";

export const RANGES = [
  { key: "1h", label: "1 hour", ms: 3600_000 },
  { key: "24h", label: "24 hours", ms: 24 * 3600_000 },
  { key: "7d", label: "7 days", ms: 7 * 24 * 3600_000 },
] as const;

export type RangeKey = (typeof RANGES)[number]["key"];

type MetricPoint = Schemas["HostMetricPoint"];

/** One figure of each point as a chart series. */
export function series(points: MetricPoint[], pick: (point: MetricPoint) => number | null | undefined): Point[] {
  return points.map((point) => ({ t: Date.parse(point.at), v: pick(point) ?? null }));
}

/** The latest non-null value of a figure, e.g. the total memory to scale the memory chart. */
export function latest(points: MetricPoint[], pick: (point: MetricPoint) => number | null | undefined): number | null {
  for (const point of [...points].reverse()) {
    const value = pick(point);
    if (value !== null && value !== undefined) return value;
  }
  return null;
}

export function HostCharts({ org, host, now = Date.now }: { org: string; host: string; now?: () => number }) {
  const [range, setRange] = useState<RangeKey>("24h");
  const span = RANGES.find((r) => r.key === range)?.ms ?? RANGES[1].ms;
  const metrics = useQuery({
    queryKey: [org, "hosts", "metrics", host, range],
    queryFn: async () => {
      const until = now();
      const since = new Date(until - span).toISOString();
      return unwrap(
        await api.GET("/api/v1/orgs/{org}/hosts/{host}/metrics", {
          params: { path: { org, host }, query: { since, until: new Date(until).toISOString() } },
        }),
      );
    },
    refetchInterval: 60_000,
  });
  const data = metrics.data;
  const points = data?.points ?? [];
  const start = data ? Date.parse(data.since) : now() - span;
  const end = data ? Date.parse(data.until) : now();

  return (
    <Card className="lg:col-span-2">
      <div className="mb-3 flex flex-wrap items-center justify-between gap-2">
        <CardTitle>History</CardTitle>
        <div role="group" aria-label="Time range" className="inline-flex rounded-md border border-border">
          {RANGES.map((r) => (
            <button
              key={r.key}
              type="button"
              aria-pressed={range === r.key}
              onClick={() => setRange(r.key)}
              className={
                "px-3 py-1 text-sm first:rounded-l-md last:rounded-r-md " +
                (range === r.key ? "bg-primary text-primary-fg" : "text-fg hover:bg-muted")
              }
            >
              {r.label}
            </button>
          ))}
        </div>
      </div>
      <ErrorNote error={metrics.error ? errorMessage(metrics.error) : null} />
      {metrics.isLoading ? (
        <p className="py-6 text-center text-sm text-muted-fg">Loading…</p>
      ) : (
        <div className="grid gap-6 md:grid-cols-2">
          <LineChart
            title="CPU load (1 min)"
            points={series(points, (p) => p.cpu_load)}
            start={start}
            end={end}
            format={(v) => v.toFixed(2)}
          />
          <LineChart
            title="Memory used"
            points={series(points, (p) => p.memory_used_bytes)}
            start={start}
            end={end}
            format={bytes}
            ceiling={latest(points, (p) => p.memory_total_bytes)}
          />
          <LineChart
            title="Disk used (fullest)"
            points={series(points, (p) => p.disk_used_bytes)}
            start={start}
            end={end}
            format={bytes}
            ceiling={latest(points, (p) => p.disk_total_bytes)}
          />
          <LineChart
            title="Players online"
            points={series(points, (p) => p.players_online)}
            start={start}
            end={end}
            format={(v) => String(Math.round(v))}
          />
        </div>
      )}
    </Card>
  );
}
