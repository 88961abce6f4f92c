import { describe, expect, it } from "vitest";
import { isJobPeriod, jobsQuery } from "./queries";

describe("jobsQuery", () => {
  it("turns a period into `since`, computed at fetch time, and passes the other filters", () => {
    const now = Date.parse("2026-01-31T12:00:00Z");
    expect(jobsQuery({ host: "h", period: "1h" }, 100, now)).toEqual({ host: "h", since: "2026-01-31T11:00:00.000Z", limit: 100 });
    expect(jobsQuery({ period: "7d" }, 50, now).since).toBe("2026-01-24T12:00:00.000Z");
    expect(jobsQuery({ state: "failed" }, 50, now)).toEqual({ state: "failed", since: undefined, limit: 50 });
  });

  it("accepts only the known periods from the URL", () => {
    expect(isJobPeriod("24h")).toBe(true);
    expect(isJobPeriod("1y")).toBe(false);
    expect(isJobPeriod("toString")).toBe(false);
    expect(isJobPeriod(null)).toBe(false);
  });
});
