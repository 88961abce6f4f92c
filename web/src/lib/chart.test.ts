import { describe, expect, it } from "vitest";
import { paths, runs, summarise, thin, yTop } from "./chart";

const MIN = 60_000;

describe("thin", () => {
  it("averages points into equal time buckets, keeps each bucket's peak and skips missing values", () => {
    const points = [
      { t: 0, v: 1 },
      { t: MIN, v: 3 },
      { t: 2 * MIN, v: null },
      { t: 5 * MIN, v: 10 },
      { t: 20 * MIN, v: 99 }, // outside [start, end)
    ];
    expect(thin(points, 0, 10 * MIN, 2)).toEqual([
      { t: 0, v: 2, max: 3 },
      { t: 5 * MIN, v: 10, max: 10 },
    ]);
  });

  it("bounds a week of minutes to the bucket count and leaves empty buckets out", () => {
    const week = Array.from({ length: 10_080 }, (_, i) => ({ t: i * MIN, v: i % 2 }));
    expect(thin(week, 0, 10_080 * MIN, 240)).toHaveLength(240);
    expect(thin([{ t: 0, v: 1 }], 0, 10 * MIN, 10)).toHaveLength(1);
    expect(thin(week, 5, 5, 10)).toEqual([]);
  });
});

describe("runs", () => {
  it("breaks the line where the gap between buckets is longer than allowed", () => {
    const at = (t: number) => ({ t, v: 1, max: 1 });
    const split = runs([at(0), at(MIN), at(10 * MIN), at(11 * MIN)], 5 * MIN);
    expect(split.map((run) => run.map((b) => b.t))).toEqual([
      [0, MIN],
      [10 * MIN, 11 * MIN],
    ]);
    expect(runs([], MIN)).toEqual([]);
  });
});

describe("yTop", () => {
  it("uses the ceiling when there is one, else a round number at or above the peak", () => {
    const peak = (max: number) => [{ t: 0, v: max, max }];
    expect(yTop(peak(3), 16)).toBe(16);
    expect(yTop(peak(3.2))).toBe(5);
    expect(yTop(peak(0.7))).toBe(1);
    expect(yTop(peak(120))).toBe(200);
    expect(yTop(peak(250))).toBe(250);
    expect(yTop([])).toBe(1);
  });
});

describe("paths", () => {
  it("scales runs into the box, y growing downwards, and draws a lone point as a short stroke", () => {
    const box = { start: 0, end: 100, top: 10, width: 200, height: 50 };
    const [line, lone] = paths(
      [
        [
          { t: 0, v: 0, max: 0 },
          { t: 50, v: 10, max: 10 },
        ],
        [{ t: 100, v: 5, max: 5 }],
      ],
      box,
    );
    expect(line).toBe("M0.0 50.0 L100.0 0.0");
    expect(lone).toBe("M198.0 25.0 L200.0 25.0");
  });
});

describe("summarise", () => {
  it("gives lowest, mean, highest and latest of the values present", () => {
    expect(summarise([{ t: 0, v: 2 }, { t: 1, v: null }, { t: 2, v: 4 }, { t: 3, v: 0 }])).toEqual({
      min: 0,
      mean: 2,
      max: 4,
      latest: 0,
    });
    expect(summarise([{ t: 0, v: null }])).toBeNull();
  });
});
