// The pure half of the line chart: thinning a series to what the chart can show, splitting it
// where data is missing, scaling it into the SVG's box and summarising it in words.
//
// A week of minutes is 10,080 points; a chart a few hundred pixels wide shows at most one per
// pixel column, so the series is thinned by averaging into equal time buckets (the peak of each
// bucket is kept too, so a short spike stays visible in the summary). A gap longer than a few
// minutes (the agent was down) breaks the line rather than drawing a slope across it.

/** One value at one time (ms since the epoch); `null` when that reading was missing. */
export interface Point {
  t: number;
  v: number | null;
}

/** A bucket of points: its mean (the line), its peak, and the time it stands for. */
export interface Bucket {
  t: number;
  v: number;
  max: number;
}

/**
 * Averages `points` (oldest first) into at most `buckets` equal slices of `[start, end)`;
 * empty slices are left out, so gaps stay gaps. Missing values are skipped.
 */
export function thin(points: Point[], start: number, end: number, buckets: number): Bucket[] {
  if (end <= start || buckets < 1) return [];
  const width = (end - start) / buckets;
  const sums = new Map<number, { sum: number; count: number; max: number; t: number }>();
  for (const point of points) {
    if (point.v === null || !Number.isFinite(point.v) || point.t < start || point.t >= end) continue;
    const index = Math.min(buckets - 1, Math.floor((point.t - start) / width));
    const slot = sums.get(index);
    if (slot) {
      slot.sum += point.v;
      slot.count += 1;
      slot.max = Math.max(slot.max, point.v);
    } else {
      sums.set(index, { sum: point.v, count: 1, max: point.v, t: point.t });
    }
  }
  return [...sums.entries()]
    .sort(([a], [b]) => a - b)
    .map(([, slot]) => ({ t: slot.t, v: slot.sum / slot.count, max: slot.max }));
}

/** Splits buckets into runs with no gap longer than `maxGap` ms between neighbours. */
export function runs(buckets: Bucket[], maxGap: number): Bucket[][] {
  const out: Bucket[][] = [];
  let current: Bucket[] = [];
  for (const bucket of buckets) {
    const last = current[current.length - 1];
    if (last && bucket.t - last.t > maxGap) {
      out.push(current);
      current = [];
    }
    current.push(bucket);
  }
  if (current.length) out.push(current);
  return out;
}

/** The top of the y axis: `ceiling` when given (e.g. total memory), else a round number above the peak. */
export function yTop(buckets: Bucket[], ceiling?: number | null): number {
  if (ceiling && ceiling > 0) return ceiling;
  const peak = Math.max(0, ...buckets.map((b) => b.max));
  if (peak <= 0) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(peak));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (step * magnitude >= peak) return step * magnitude;
  }
  return 10 * magnitude;
}

/** The SVG path (`M x y L x y …`) of each run, scaled into a `width` × `height` box. */
export function paths(
  series: Bucket[][],
  box: { start: number; end: number; top: number; width: number; height: number },
): string[] {
  const x = (t: number) => ((t - box.start) / (box.end - box.start)) * box.width;
  const y = (v: number) => box.height - (Math.min(v, box.top) / box.top) * box.height;
  return series.map((run) => {
    // A lone point (a minute or two of data) is drawn as a short flat stroke, 1 % of the width
    // and ending at the point, so it stays visible and inside the box at the right edge.
    const [only] = run;
    const lead = (box.end - box.start) / 100;
    const points = run.length === 1 && only ? [{ ...only, t: Math.max(box.start, only.t - lead) }, only] : run;
    return points.map((b, i) => `${i ? "L" : "M"}${x(b.t).toFixed(1)} ${y(b.v).toFixed(1)}`).join(" ");
  });
}

/** Minimum, mean, peak and latest of a series, for the chart's text alternative. */
export interface Summary {
  min: number;
  mean: number;
  max: number;
  latest: number;
}

export function summarise(points: Point[]): Summary | null {
  const values = points.map((p) => p.v).filter((v): v is number => v !== null && Number.isFinite(v));
  const latest = values[values.length - 1];
  if (latest === undefined) return null;
  return {
    min: Math.min(...values),
    mean: values.reduce((a, b) => a + b, 0) / values.length,
    max: Math.max(...values),
    latest,
  };
}
