import { describe, expect, it } from "vitest";
import { describeSlot, prefill, ruleLabel, slotHints, type ProgramSummary } from "./programs";

const systemctl: ProgramSummary = {
  path: "/usr/bin/systemctl",
  args: [
    { kind: "fixed", value: "--no-pager" },
    { kind: "one_of", values: ["start", "stop"] },
    { kind: "regex", pattern: "[a-z0-9-]+", options: false },
  ],
  allow_extra: false,
};

describe("allowed programs", () => {
  it("label a rule by its path and the shape of its arguments", () => {
    expect(ruleLabel(systemctl)).toBe("/usr/bin/systemctl --no-pager {start|stop} <[a-z0-9-]+>");
    expect(ruleLabel({ path: "/bin/echo", args: [], repeat: { kind: "int", min: 0, max: 9 }, allow_extra: false })).toBe(
      "/bin/echo [<0..9>…]",
    );
    expect(ruleLabel({ path: "/bin/ls", args: [], allow_extra: true })).toBe("/bin/ls […]");
  });

  it("prefill only the leading fixed arguments, so positions never shift", () => {
    expect(prefill(systemctl)).toEqual(["--no-pager"]);
    expect(prefill({ path: "/bin/x", args: [{ kind: "int", min: 1, max: 2 }, { kind: "fixed", value: "a" }], allow_extra: false })).toEqual([]);
  });

  it("describe every slot and what may follow", () => {
    expect(slotHints(systemctl)).toEqual([
      'Argument 1: exactly "--no-pager"',
      'Argument 2: one of "start", "stop"',
      "Argument 3: text matching /[a-z0-9-]+/",
      "No further arguments",
    ]);
    expect(slotHints({ path: "/bin/true", args: [], allow_extra: false })).toEqual(["No arguments"]);
    expect(describeSlot({ kind: "regex", pattern: "--file=.+", options: true })).toBe("text matching /--file=.+/ (may start with -)");
    expect(describeSlot({ kind: "other" })).toMatch(/does not know/);
  });
});
