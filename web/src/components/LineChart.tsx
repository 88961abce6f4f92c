// A small accessible SVG line chart (no chart library: the dashboard's initial JavaScript stays
// small). The SVG is an image with a title and a one-sentence summary for screen readers; a
// button shows the same data as a table. Colours come from the theme through `currentColor`.
import { useId, useState } from "react";
import { paths, runs, summarise, thin, yTop, type Point } from "../lib/chart";

/** The SVG's drawing box; it scales to the card's width. */
const WIDTH = 600;
const HEIGHT = 140;
/** Most buckets drawn, and most rows the table shows. */
const BUCKETS = 240;
const TABLE_ROWS = 48;

export interface LineChartProps {
  title: string;
  points: Point[];
  /** The time range shown, ms since the epoch. */
  start: number;
  end: number;
  /** How a value reads (axis, summary, table). */
  format: (value: number) => string;
  /** The y axis's top (e.g. total memory); else rounded above the peak. */
  ceiling?: number | null;
}

function clock(t: number, span: number): string {
  const date = new Date(t);
  return span > 2 * 3600_000
    ? date.toLocaleString(undefined, { weekday: "short", hour: "2-digit", minute: "2-digit" })
    : date.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
}

export function LineChart({ title, points, start, end, format, ceiling }: LineChartProps) {
  const id = useId();
  const [table, setTable] = useState(false);
  const buckets = thin(points, start, end, BUCKETS);
  const summary = summarise(points);
  const span = end - start;
  // A gap of more than three bucket widths (or five minutes) breaks the line.
  const lines = runs(buckets, Math.max(5 * 60_000, (3 * span) / BUCKETS));
  const top = yTop(buckets, ceiling);
  const drawn = paths(lines, { start, end, top, width: WIDTH, height: HEIGHT });
  const description = summary
    ? `${title} from ${clock(start, span)} to ${clock(end, span)}: latest ${format(summary.latest)}, ` +
      `lowest ${format(summary.min)}, average ${format(summary.mean)}, highest ${format(summary.max)}.`
    : `${title}: no data from ${clock(start, span)} to ${clock(end, span)}.`;
  const rows = thin(points, start, end, TABLE_ROWS);

  return (
    <figure className="flex min-w-0 flex-col gap-1" data-testid="line-chart">
      <figcaption className="flex items-baseline justify-between gap-2 text-sm">
        <span className="font-medium" id={`${id}-title`}>
          {title}
        </span>
        <span className="tabular-nums text-muted-fg">{summary ? format(summary.latest) : "no data"}</span>
      </figcaption>
      <div className="flex gap-2">
        <div className="flex w-16 shrink-0 flex-col justify-between text-right text-xs tabular-nums text-muted-fg" aria-hidden="true">
          <span>{format(top)}</span>
          <span>{format(0)}</span>
        </div>
        <svg
          viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
          preserveAspectRatio="none"
          className="h-32 min-w-0 flex-1 text-primary"
          role="img"
          aria-labelledby={`${id}-title`}
          aria-describedby={`${id}-desc`}
        >
          <desc id={`${id}-desc`}>{description}</desc>
          <line x1={0} y1={HEIGHT} x2={WIDTH} y2={HEIGHT} className="text-border" stroke="currentColor" strokeWidth={1} />
          <line x1={0} y1={0} x2={WIDTH} y2={0} className="text-border" stroke="currentColor" strokeWidth={1} strokeDasharray="4 4" />
          {drawn.map((d, i) => (
            <path
              key={i}
              d={d}
              fill="none"
              stroke="currentColor"
              strokeWidth={2}
              vectorEffect="non-scaling-stroke"
              strokeLinejoin="round"
              strokeLinecap="round"
            />
          ))}
        </svg>
      </div>
      <div className="flex justify-between pl-18 text-xs text-muted-fg" aria-hidden="true">
        <span>{clock(start, span)}</span>
        <span>{clock(end, span)}</span>
      </div>
      <button
        type="button"
        className="self-start text-xs text-primary underline"
        aria-expanded={table}
        aria-controls={`${id}-table`}
        onClick={() => setTable((shown) => !shown)}
      >
        {table ? "Hide table" : "Show as table"}
      </button>
      {table && (
        <div id={`${id}-table`} className="max-h-64 overflow-y-auto" tabIndex={0}>
          <table className="w-full text-left text-xs">
            <caption className="sr-only">{title}</caption>
            <thead>
              <tr>
                <th scope="col" className="px-2 py-1 font-medium text-muted-fg">
                  Time
                </th>
                <th scope="col" className="px-2 py-1 font-medium text-muted-fg">
                  Average
                </th>
                <th scope="col" className="px-2 py-1 font-medium text-muted-fg">
                  Peak
                </th>
              </tr>
            </thead>
            <tbody>
              {rows.length ? (
                rows.map((row) => (
                  <tr key={row.t}>
                    <td className="px-2 py-0.5">{clock(row.t, span)}</td>
                    <td className="px-2 py-0.5 tabular-nums">{format(row.v)}</td>
                    <td className="px-2 py-0.5 tabular-nums">{format(row.max)}</td>
                  </tr>
                ))
              ) : (
                <tr>
                  <td colSpan={3} className="px-2 py-1 text-muted-fg">
                    No data in this range.
                  </td>
                </tr>
              )}
            </tbody>
          </table>
        </div>
      )}
    </figure>
  );
}
