import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import type { Schemas } from "../api/client";

const calls: { since: string; until: string }[] = [];

vi.mock("../api/client", async (importOriginal) => {
  const original = await importOriginal<typeof import("../api/client")>();
  return {
    ...original,
    api: {
      GET: vi.fn(async (_path: string, init: { params: { query: { since: string; until: string } } }) => {
        calls.push(init.params.query);
        const points: Schemas["HostMetricPoint"][] = [
          { at: "2026-01-31T11:30:00Z", samples: 2, cpu_load: 0.5, memory_used_bytes: 2 ** 30, memory_total_bytes: 4 * 2 ** 30, players_online: 3 },
          { at: "2026-01-31T11:31:00Z", samples: 2, cpu_load: 1.5, memory_used_bytes: 2 * 2 ** 30, memory_total_bytes: 4 * 2 ** 30, players_online: 4 },
        ];
        const body: Schemas["HostMetrics"] = { host: "h", since: init.params.query.since, until: init.params.query.until, points };
        return { data: body, response: new Response(null, { status: 200 }) };
      }),
    },
  };
});

const { HostCharts, latest, series } = await import("./HostCharts");

afterEach(() => {
  cleanup();
  calls.length = 0;
});

const NOW = Date.parse("2026-01-31T12:00:00Z");

function renderCharts() {
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  return render(
    <QueryClientProvider client={client}>
      <HostCharts org="o" host="h" now={() => NOW} />
    </QueryClientProvider>,
  );
}

describe("HostCharts", () => {
  it("asks for the last 24 hours first and draws a chart per figure, described in words", async () => {
    renderCharts();
    const memory = await screen.findByRole("img", { name: "Memory used" });
    expect(calls[0]).toEqual({ since: "2026-01-30T12:00:00.000Z", until: "2026-01-31T12:00:00.000Z" });
    for (const name of ["CPU load (1 min)", "Disk used (fullest)", "Players online"]) {
      expect(screen.getByRole("img", { name })).toBeTruthy();
    }
    const describedBy = memory.getAttribute("aria-describedby") ?? "";
    expect(document.getElementById(describedBy)?.textContent).toContain("latest 2.0 GiB");
    expect(screen.getByRole("button", { name: "24 hours" }).getAttribute("aria-pressed")).toBe("true");
  });

  it("asks again for the range picked", async () => {
    renderCharts();
    await screen.findByRole("img", { name: "Players online" });
    fireEvent.click(screen.getByRole("button", { name: "7 days" }));
    await waitFor(() => expect(calls).toHaveLength(2));
    expect(calls[1]?.since).toBe("2026-01-24T12:00:00.000Z");
    expect(screen.getByRole("button", { name: "7 days" }).getAttribute("aria-pressed")).toBe("true");
    fireEvent.click(screen.getByRole("button", { name: "1 hour" }));
    await waitFor(() => expect(calls).toHaveLength(3));
    expect(calls[2]?.since).toBe("2026-01-31T11:00:00.000Z");
  });
});

describe("series and latest", () => {
  it("turn points into chart values, absent figures as gaps, and find the last reading", () => {
    const points: Schemas["HostMetricPoint"][] = [
      { at: "2026-01-31T11:30:00Z", samples: 1, disk_total_bytes: 10, players_online: 0 },
      { at: "2026-01-31T11:31:00Z", samples: 1, players_online: 1 },
    ];
    expect(series(points, (p) => p.disk_total_bytes)).toEqual([
      { t: Date.parse("2026-01-31T11:30:00Z"), v: 10 },
      { t: Date.parse("2026-01-31T11:31:00Z"), v: null },
    ]);
    expect(latest(points, (p) => p.disk_total_bytes)).toBe(10);
    expect(latest(points, (p) => p.memory_total_bytes)).toBeNull();
  });
});
