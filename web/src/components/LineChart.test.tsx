import { afterEach, describe, expect, it } from "vitest";
import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { LineChart } from "./LineChart";

afterEach(cleanup);

const MIN = 60_000;
const start = Date.UTC(2026, 0, 31, 11, 0);
const end = start + 60 * MIN;

describe("LineChart", () => {
  it("is an image named by its title and described by a summary of the values", () => {
    const points = [
      { t: start, v: 1 },
      { t: start + MIN, v: 3 },
      { t: start + 2 * MIN, v: 2 },
    ];
    render(<LineChart title="CPU load" points={points} start={start} end={end} format={(v) => v.toFixed(1)} />);
    const image = screen.getByRole("img", { name: "CPU load" });
    const description = document.getElementById(image.getAttribute("aria-describedby") ?? "")?.textContent ?? "";
    expect(description).toMatch(/latest 2\.0, lowest 1\.0, average 2\.0, highest 3\.0\.$/);
    expect(image.querySelectorAll("path")).toHaveLength(1);
  });

  it("says there is no data and draws no line when the range is empty", () => {
    render(<LineChart title="Players" points={[]} start={start} end={end} format={String} />);
    const image = screen.getByRole("img", { name: "Players" });
    expect(image.querySelectorAll("path")).toHaveLength(0);
    expect(document.getElementById(image.getAttribute("aria-describedby") ?? "")?.textContent).toMatch(/no data/);
  });

  it("breaks the line over a gap in the data", () => {
    const points = [
      { t: start, v: 1 },
      { t: start + MIN, v: 1 },
      { t: start + 40 * MIN, v: 1 },
      { t: start + 41 * MIN, v: 1 },
    ];
    render(<LineChart title="Load" points={points} start={start} end={end} format={String} />);
    expect(screen.getByRole("img", { name: "Load" }).querySelectorAll("path")).toHaveLength(2);
  });

  it("shows the same data as a table on request, with text that stays text", () => {
    const points = [{ t: start, v: 5 }];
    render(<LineChart title="<b>Disk</b>" points={points} start={start} end={end} format={(v) => `${v} GiB`} />);
    expect(screen.queryByRole("table")).toBeNull();
    const toggle = screen.getByRole("button", { name: "Show as table" });
    expect(toggle.getAttribute("aria-expanded")).toBe("false");
    fireEvent.click(toggle);
    const table = screen.getByRole("table", { name: "<b>Disk</b>" });
    expect(table.querySelector("b")).toBeNull();
    expect(table.textContent).toContain("5 GiB");
    expect(screen.getByRole("button", { name: "Hide table" }).getAttribute("aria-expanded")).toBe("true");
  });
});
