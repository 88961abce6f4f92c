import { afterEach, describe, expect, it } from "vitest";
import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { LogBuffer } from "../lib/logBuffer";
import { LogViewer } from "./LogViewer";

function bufferOf(lines: string[]): LogBuffer {
  const buffer = new LogBuffer();
  buffer.appendText("stdout", lines.join("\n") + "\n");
  return buffer;
}

afterEach(cleanup);

describe("LogViewer", () => {
  it("puts only the rows on screen in the DOM, however long the output", () => {
    const buffer = bufferOf(Array.from({ length: 100_000 }, (_, i) => `line ${i}`));
    const { container } = render(<LogViewer buffer={buffer} version={buffer.version} />);
    const rows = container.querySelectorAll("[data-line]");
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.length).toBeLessThan(100);
    expect(screen.getByTestId("log-matches").textContent).toBe("100000 lines");
  });

  it("renders markup and escapes in a line as inert, coloured text", () => {
    const hostile = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>';
    const buffer = bufferOf([`\x1b[31m${hostile}\x1b[0m plain`, "\x1b]0;title\x07after"]);
    const { container } = render(<LogViewer buffer={buffer} version={buffer.version} />);
    const viewer = screen.getByTestId("log-viewer");
    expect(viewer.querySelectorAll("img, script").length).toBe(0);
    expect(viewer.textContent).toContain(hostile);
    expect(viewer.textContent).not.toContain("\x1b");
    expect(viewer.textContent).not.toContain("title");
    const red = [...container.querySelectorAll("span")].find((s) => s.textContent === hostile);
    expect(red?.style.color).toBe("rgb(205, 49, 49)");
    expect((window as { __pwned?: number }).__pwned).toBeUndefined();
  });

  it("searches the text without its escapes and counts the matches", () => {
    const buffer = bufferOf(["alpha", "\x1b[1mbe\x1b[0mta", "gamma beta"]);
    render(<LogViewer buffer={buffer} version={buffer.version} />);
    fireEvent.change(screen.getByLabelText("Search the output"), { target: { value: "BETA" } });
    expect(screen.getByTestId("log-matches").textContent).toBe("1 of 2");
    fireEvent.click(screen.getByRole("button", { name: "Next" }));
    expect(screen.getByTestId("log-matches").textContent).toBe("2 of 2");
  });
});
