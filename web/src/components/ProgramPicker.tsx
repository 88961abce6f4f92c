// The job form's program and arguments: the host's allowed programs offered as a list (one entry
// per policy rule, with its argument slots described), or a free path for an agent that reported
// none or when "another program" is picked. The agent checks the job against its policy anyway.
import { useId, useState } from "react";
import { prefill, ruleLabel, slotHints, type ProgramSummary } from "../lib/programs";
import { Input, Label, Select } from "./ui/input";

const OTHER = "other";

export interface ProgramPickerProps {
  allowed: ProgramSummary[];
  program: string;
  args: string;
  onChange: (program: string, args: string) => void;
}

export function ProgramPicker({ allowed, program, args, onChange }: ProgramPickerProps) {
  const id = useId();
  const [rule, setRule] = useState<string>("");
  const chosen = rule !== "" && rule !== OTHER ? allowed[Number(rule)] : undefined;
  const free = !allowed.length || rule === OTHER;
  const hints = chosen ? slotHints(chosen) : [];

  const pick = (value: string) => {
    setRule(value);
    const next = value !== "" && value !== OTHER ? allowed[Number(value)] : undefined;
    if (next) onChange(next.path, prefill(next).join("\n"));
    else onChange("", "");
  };

  return (
    <>
      {allowed.length > 0 && (
        <div>
          <Label htmlFor={`${id}-rule`}>Program (as the host's policy allows it)</Label>
          <Select id={`${id}-rule`} required value={rule} onChange={(e) => pick(e.target.value)}>
            <option value="">Choose a program</option>
            {allowed.map((p, i) => (
              <option key={i} value={String(i)}>
                {ruleLabel(p)}
              </option>
            ))}
            <option value={OTHER}>Another program…</option>
          </Select>
        </div>
      )}
      {free && (
        <div>
          <Label htmlFor={`${id}-path`}>Program (an absolute path the host's policy allows)</Label>
          <Input
            id={`${id}-path`}
            required
            pattern="/.*"
            value={program}
            onChange={(e) => onChange(e.target.value, args)}
            placeholder="/bin/echo"
            aria-describedby={allowed.length ? undefined : `${id}-none`}
          />
          {!allowed.length && (
            <p id={`${id}-none`} className="mt-1 text-xs text-muted-fg">
              This host's agent has not reported the programs its policy allows.
            </p>
          )}
        </div>
      )}
      <div>
        <Label htmlFor={`${id}-args`}>Arguments, one per line (no shell: each line is one argument)</Label>
        <textarea
          id={`${id}-args`}
          className="min-h-24 w-full rounded-md border border-border bg-card p-2 font-mono text-sm"
          value={args}
          onChange={(e) => onChange(program, e.target.value)}
          aria-describedby={hints.length ? `${id}-hints` : undefined}
        />
        {hints.length > 0 && (
          <ul id={`${id}-hints`} className="mt-1 list-none text-xs text-muted-fg" data-testid="program-hints">
            {hints.map((hint) => (
              <li key={hint}>{hint}</li>
            ))}
          </ul>
        )}
      </div>
    </>
  );
}
