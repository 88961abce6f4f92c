import { afterEach, describe, expect, it } from "vitest";
import { useState } from "react";
import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import type { ProgramSummary } from "../lib/programs";
import { ProgramPicker } from "./ProgramPicker";

afterEach(cleanup);

const allowed: ProgramSummary[] = [
  { path: "/usr/bin/systemctl", args: [{ kind: "fixed", value: "restart" }, { kind: "one_of", values: ["7dtd", "mc"] }], allow_extra: false },
  { path: "/bin/echo", args: [], repeat: { kind: "regex", pattern: ".*", options: false }, allow_extra: false },
];

function Harness({ programs }: { programs: ProgramSummary[] }) {
  const [value, setValue] = useState({ program: "", args: "" });
  return (
    <>
      <ProgramPicker allowed={programs} program={value.program} args={value.args} onChange={(program, args) => setValue({ program, args })} />
      <output data-testid="value">{JSON.stringify(value)}</output>
    </>
  );
}

const value = () => JSON.parse(screen.getByTestId("value").textContent ?? "{}") as { program: string; args: string };

describe("ProgramPicker", () => {
  it("offers the host's allowed programs and fills in the path and fixed arguments of the one picked", () => {
    render(<Harness programs={allowed} />);
    const select = screen.getByLabelText("Program (as the host's policy allows it)");
    expect([...select.querySelectorAll("option")].map((o) => o.textContent)).toEqual([
      "Choose a program",
      "/usr/bin/systemctl restart {7dtd|mc}",
      "/bin/echo [<.*>…]",
      "Another program…",
    ]);
    fireEvent.change(select, { target: { value: "0" } });
    expect(value()).toEqual({ program: "/usr/bin/systemctl", args: "restart" });
    expect(screen.getByTestId("program-hints").textContent).toContain('Argument 2: one of "7dtd", "mc"');
    expect(screen.queryByPlaceholderText("/bin/echo")).toBeNull();
  });

  it("takes any path when another program is picked or the agent reported none", () => {
    render(<Harness programs={allowed} />);
    fireEvent.change(screen.getByLabelText("Program (as the host's policy allows it)"), { target: { value: "other" } });
    fireEvent.change(screen.getByPlaceholderText("/bin/echo"), { target: { value: "/opt/tool" } });
    expect(value().program).toBe("/opt/tool");
    cleanup();
    render(<Harness programs={[]} />);
    expect(screen.queryByLabelText("Program (as the host's policy allows it)")).toBeNull();
    const path = screen.getByLabelText("Program (an absolute path the host's policy allows)");
    expect(path.getAttribute("aria-describedby")).toBeTruthy();
    expect(screen.getByText(/has not reported the programs/)).toBeTruthy();
  });
});
