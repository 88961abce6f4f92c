import { afterEach, describe, expect, it } from "vitest";
import { useRef, useState } from "react";
import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { NavDrawer } from "./NavDrawer";

afterEach(cleanup);

function Harness() {
  const [open, setOpen] = useState(false);
  const opener = useRef<HTMLButtonElement>(null);
  return (
    <>
      <button ref={opener} onClick={() => setOpen(true)}>
        Open the menu
      </button>
      <button>Elsewhere</button>
      <NavDrawer open={open} onClose={() => setOpen(false)} opener={opener} label="Menu">
        <a href="/overview">Overview</a>
        <a href="/hosts">Hosts</a>
      </NavDrawer>
    </>
  );
}

describe("NavDrawer", () => {
  it("moves focus inside when opened, closes on Escape and gives focus back to its opener", () => {
    render(<Harness />);
    const opener = screen.getByRole("button", { name: "Open the menu" });
    opener.focus();
    fireEvent.click(opener);
    const drawer = screen.getByRole("dialog", { name: "Menu" });
    expect(document.activeElement).toBe(screen.getByRole("link", { name: "Overview" }));
    fireEvent.keyDown(drawer, { key: "Escape" });
    expect(screen.queryByRole("dialog")).toBeNull();
    expect(document.activeElement).toBe(opener);
  });

  it("closes on a click outside the panel but not inside it, and ignores other keys", () => {
    render(<Harness />);
    const opener = screen.getByRole("button", { name: "Open the menu" });
    fireEvent.click(opener);
    fireEvent.keyDown(document.body, { key: "Enter" });
    fireEvent.click(screen.getByRole("dialog", { name: "Menu" }));
    expect(screen.getByRole("dialog", { name: "Menu" })).toBeTruthy();
    fireEvent.click(screen.getByTestId("nav-drawer-backdrop"));
    expect(screen.queryByRole("dialog")).toBeNull();
    expect(document.activeElement).toBe(opener);
  });
});
