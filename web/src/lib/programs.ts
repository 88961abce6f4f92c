// The host's allowed programs (its agent's policy rules, from `GET …/hosts/{host}`) in words, for
// the job form: a label per rule, a description per argument slot, and the arguments a rule fixes.
// Only a hint: the agent checks every job against its policy whatever the form offers.
import type { Schemas } from "../api/client";

export type ProgramSummary = Schemas["ProgramSummary"];
export type ArgSlot = Schemas["ArgSlot"];

/** What one argument position accepts, as a sentence fragment. */
export function describeSlot(slot: ArgSlot): string {
  switch (slot.kind) {
    case "fixed":
      return `exactly "${slot.value}"`;
    case "one_of":
      return `one of ${slot.values.map((v) => `"${v}"`).join(", ")}`;
    case "regex":
      return `text matching /${slot.pattern}/${slot.options ? " (may start with -)" : ""}`;
    case "int":
      return `a whole number from ${slot.min} to ${slot.max}`;
    default:
      return "a kind of argument this dashboard does not know";
  }
}

function short(slot: ArgSlot): string {
  switch (slot.kind) {
    case "fixed":
      return slot.value;
    case "one_of":
      return `{${slot.values.join("|")}}`;
    case "regex":
      return `<${slot.pattern}>`;
    case "int":
      return `<${slot.min}..${slot.max}>`;
    default:
      return "<?>";
  }
}

/** One line for a rule: the path and the shape of its command line. */
export function ruleLabel(program: ProgramSummary): string {
  const parts = [program.path, ...(program.args ?? []).map(short)];
  if (program.repeat) parts.push(`[${short(program.repeat)}…]`);
  if (program.allow_extra) parts.push("[…]");
  return parts.join(" ");
}

/** The arguments a rule leaves no choice about: its leading fixed slots. */
export function prefill(program: ProgramSummary): string[] {
  const fixed: string[] = [];
  for (const slot of program.args ?? []) {
    if (slot.kind !== "fixed") break;
    fixed.push(slot.value);
  }
  return fixed;
}

/** Each argument slot of a rule described, in order, with what may follow them. */
export function slotHints(program: ProgramSummary): string[] {
  const hints = (program.args ?? []).map((slot, i) => `Argument ${i + 1}: ${describeSlot(slot)}`);
  if (program.repeat) hints.push(`Any further argument: ${describeSlot(program.repeat)}`);
  else if (program.allow_extra) hints.push("Further plain arguments (not starting with -) are accepted as they are");
  else hints.push(hints.length ? "No further arguments" : "No arguments");
  return hints;
}
