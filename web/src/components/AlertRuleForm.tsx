// The alert rule form: every field `POST`/`PUT …/alert-rules` takes (event and filters, threshold,
// resolving event, cooldown, severity, channels, remediation, enabled), for a new rule or an edit.
// A 422 names the field it is about (`error.field`); its message is shown at that field, with
// `aria-invalid` and `aria-describedby`, instead of only at the top of the form.
import { useId, useState, type FormEvent, type ReactNode } from "react";
import { ApiError, errorMessage, type Schemas } from "../api/client";
import { Button } from "./ui/button";
import { ErrorNote } from "./ui/card";
import { Input, Label, Select } from "./ui/input";

type Spec = Schemas["AlertRuleSpec"];

export const EVENT_KINDS = [
  "host.offline",
  "host.stale",
  "host.online",
  "job.failed",
  "job.timed_out",
  "job.lost",
  "schedule.missed",
  "game.server_stopping",
  "game.server_started",
  "game.player_connected",
  "game.player_disconnected",
  "game.player_died",
  "game.chat",
  "game.error",
];

export const GAME_ACTIONS = ["restart", "save", "say", "command", "shutdown", "kick", "ban"];

/** The form's state: text as typed, so an empty box means "not set". */
export interface RuleDraft {
  name: string;
  kind: string;
  host: string;
  game: string;
  text: string;
  playersAbove: string;
  playersBelow: string;
  thresholdCount: string;
  thresholdWindow: string;
  resolveKind: string;
  cooldown: string;
  severity: Schemas["Severity"];
  inApp: boolean;
  discord: string[];
  remediationAction: string;
  remediationRuns: string;
  remediationPer: string;
  enabled: boolean;
}

export function draftOf(spec?: Spec): RuleDraft {
  const channels = spec?.channels ?? ["in_app"];
  const text = (n: number | null | undefined) => (n === null || n === undefined ? "" : String(n));
  return {
    name: spec?.name ?? "",
    kind: spec?.kind ?? EVENT_KINDS[0]!,
    host: spec?.host ?? "",
    game: spec?.game ?? "",
    text: spec?.text ?? "",
    playersAbove: text(spec?.players_above),
    playersBelow: text(spec?.players_below),
    thresholdCount: text(spec?.threshold?.count),
    thresholdWindow: text(spec?.threshold?.window_secs),
    resolveKind: spec?.resolve_kind ?? "",
    cooldown: spec?.cooldown_secs ? String(spec.cooldown_secs) : "",
    severity: spec?.severity ?? "warning",
    inApp: channels.includes("in_app"),
    discord: channels.filter((c) => c.startsWith("discord:")).map((c) => c.slice("discord:".length)),
    remediationAction: spec?.remediation?.action ?? "",
    remediationRuns: text(spec?.remediation?.max_runs),
    remediationPer: text(spec?.remediation?.per_secs),
    enabled: spec?.enabled ?? true,
  };
}

/** A whole number typed in a box, `null` when empty; anything else is sent as typed so the
 * server's 422 says what is wrong with it. */
function count(text: string): number | null {
  return text.trim() === "" ? null : Number(text);
}

/** The spec a draft stands for. A threshold or remediation is sent when any of its boxes is filled. */
export function specOf(draft: RuleDraft): Spec {
  const threshold =
    draft.thresholdCount !== "" || draft.thresholdWindow !== ""
      ? { count: count(draft.thresholdCount) ?? 0, window_secs: count(draft.thresholdWindow) ?? 0 }
      : null;
  const remediation =
    draft.remediationAction !== ""
      ? { action: draft.remediationAction, max_runs: count(draft.remediationRuns) ?? 0, per_secs: count(draft.remediationPer) ?? 0 }
      : null;
  return {
    name: draft.name,
    kind: draft.kind,
    host: draft.host || null,
    game: draft.game || null,
    text: draft.text || null,
    players_above: count(draft.playersAbove),
    players_below: count(draft.playersBelow),
    threshold,
    resolve_kind: draft.resolveKind || null,
    cooldown_secs: count(draft.cooldown) ?? 0,
    severity: draft.severity,
    channels: [...(draft.inApp ? ["in_app"] : []), ...draft.discord.map((name) => `discord:${name}`)],
    remediation,
    enabled: draft.enabled,
  };
}

/** The message of an error that names exactly one of `fields`. */
export function fieldError(error: unknown, fields: string[]): string | null {
  if (!(error instanceof ApiError) || !error.field) return null;
  return fields.includes(error.field) ? error.message : null;
}

/** Every field the form shows an error at; an error about another field is shown at the top. */
const SHOWN = [
  "name",
  "kind",
  "severity",
  "host",
  "game",
  "text",
  "players_above",
  "players_below",
  "threshold",
  "threshold.count",
  "threshold.window_secs",
  "resolve_kind",
  "cooldown_secs",
  "channels",
  "remediation",
  "remediation.action",
  "remediation.max_runs",
  "remediation.per_secs",
];

export interface AlertRuleFormProps {
  initial?: Spec;
  hosts: { id: string; name: string }[];
  webhooks: string[];
  error: unknown;
  pending: boolean;
  submitLabel: string;
  onSubmit: (spec: Spec) => void;
}

export function AlertRuleForm({ initial, hosts, webhooks, error, pending, submitLabel, onSubmit }: AlertRuleFormProps) {
  const id = useId();
  const [draft, setDraft] = useState<RuleDraft>(() => draftOf(initial));
  const set = <K extends keyof RuleDraft>(key: K, value: RuleDraft[K]) => setDraft((d) => ({ ...d, [key]: value }));
  const general = error && !fieldError(error, SHOWN) ? errorMessage(error) : null;

  /** A labelled field with its error beneath it, tied to the control by id. */
  const field = (name: string, label: string, control: (props: FieldProps) => ReactNode, errorFields = [name]) => {
    const message = fieldError(error, errorFields);
    const controlId = `${id}-${name}`;
    return (
      <div>
        <Label htmlFor={controlId}>{label}</Label>
        {control({
          id: controlId,
          "aria-invalid": message ? true : undefined,
          "aria-describedby": message ? `${controlId}-error` : undefined,
        })}
        {message && (
          <p id={`${controlId}-error`} className="mt-1 text-xs text-danger" data-field-error={name}>
            {message}
          </p>
        )}
      </div>
    );
  };

  const submit = (event: FormEvent) => {
    event.preventDefault();
    onSubmit(specOf(draft));
  };

  return (
    <form onSubmit={submit} className="flex max-h-[70vh] flex-col gap-3 overflow-y-auto pr-1" noValidate>
      {field("name", "Name", (p) => (
        <Input {...p} required maxLength={64} value={draft.name} onChange={(e) => set("name", e.target.value)} />
      ))}
      <div className="grid gap-3 sm:grid-cols-2">
        {field("kind", "Event", (p) => (
          <Input {...p} list={`${id}-kinds`} required value={draft.kind} onChange={(e) => set("kind", e.target.value)} />
        ))}
        {field("severity", "Severity", (p) => (
          <Select {...p} value={draft.severity} onChange={(e) => set("severity", e.target.value as Schemas["Severity"])}>
            <option>info</option>
            <option>warning</option>
            <option>critical</option>
          </Select>
        ))}
      </div>
      <datalist id={`${id}-kinds`}>
        {EVENT_KINDS.map((k) => (
          <option key={k} value={k} />
        ))}
      </datalist>
      <fieldset className="grid gap-3 rounded-md border border-border p-3 sm:grid-cols-2">
        <legend className="px-1 text-sm font-medium">Only events that match</legend>
        {field("host", "Host", (p) => (
          <Select {...p} value={draft.host} onChange={(e) => set("host", e.target.value)}>
            <option value="">Any host</option>
            {hosts.map((h) => (
              <option key={h.id} value={h.id}>
                {h.name}
              </option>
            ))}
          </Select>
        ))}
        {field("game", "Game server (its name on the host)", (p) => (
          <Input {...p} maxLength={64} value={draft.game} onChange={(e) => set("game", e.target.value)} />
        ))}
        {field("text", "Text matches (a regular expression)", (p) => (
          <Input {...p} value={draft.text} onChange={(e) => set("text", e.target.value)} />
        ))}
        <div className="grid grid-cols-2 gap-2">
          {field("players_above", "Players above", (p) => (
            <Input {...p} type="number" min={0} value={draft.playersAbove} onChange={(e) => set("playersAbove", e.target.value)} />
          ))}
          {field("players_below", "Players below", (p) => (
            <Input {...p} type="number" min={0} value={draft.playersBelow} onChange={(e) => set("playersBelow", e.target.value)} />
          ))}
        </div>
      </fieldset>
      <fieldset className="grid gap-3 rounded-md border border-border p-3 sm:grid-cols-2">
        <legend className="px-1 text-sm font-medium">When to raise and resolve</legend>
        {field(
          "threshold.count",
          "Raise after this many events (empty: the first)",
          (p) => <Input {...p} type="number" min={1} value={draft.thresholdCount} onChange={(e) => set("thresholdCount", e.target.value)} />,
          ["threshold.count", "threshold"],
        )}
        {field("threshold.window_secs", "…within seconds", (p) => (
          <Input {...p} type="number" min={1} value={draft.thresholdWindow} onChange={(e) => set("thresholdWindow", e.target.value)} />
        ))}
        {field("resolve_kind", "Resolved by event (empty: the default)", (p) => (
          <Input {...p} list={`${id}-kinds`} value={draft.resolveKind} onChange={(e) => set("resolveKind", e.target.value)} />
        ))}
        {field("cooldown_secs", "Cooldown in seconds", (p) => (
          <Input {...p} type="number" min={0} value={draft.cooldown} onChange={(e) => set("cooldown", e.target.value)} />
        ))}
      </fieldset>
      <fieldset className="rounded-md border border-border p-3" aria-describedby={fieldError(error, ["channels"]) ? `${id}-channels-error` : undefined}>
        <legend className="px-1 text-sm font-medium">Deliver to</legend>
        <label className="flex items-center gap-2 text-sm">
          <input type="checkbox" checked={draft.inApp} onChange={(e) => set("inApp", e.target.checked)} /> In the app
        </label>
        {webhooks.map((name) => (
          <label key={name} className="flex items-center gap-2 text-sm">
            <input
              type="checkbox"
              checked={draft.discord.includes(name)}
              onChange={(e) => set("discord", e.target.checked ? [...draft.discord, name] : draft.discord.filter((n) => n !== name))}
            />{" "}
            Discord: {name}
          </label>
        ))}
        {fieldError(error, ["channels"]) && (
          <p id={`${id}-channels-error`} className="mt-1 text-xs text-danger" data-field-error="channels">
            {fieldError(error, ["channels"])}
          </p>
        )}
      </fieldset>
      <fieldset className="grid gap-3 rounded-md border border-border p-3 sm:grid-cols-3">
        <legend className="px-1 text-sm font-medium">Remediation (a game action on the event's game server)</legend>
        {field(
          "remediation.action",
          "Action",
          (p) => (
            <Select {...p} value={draft.remediationAction} onChange={(e) => set("remediationAction", e.target.value)}>
              <option value="">None</option>
              {GAME_ACTIONS.map((a) => (
                <option key={a}>{a}</option>
              ))}
            </Select>
          ),
          ["remediation.action", "remediation"],
        )}
        {field("remediation.max_runs", "At most runs", (p) => (
          <Input {...p} type="number" min={1} value={draft.remediationRuns} onChange={(e) => set("remediationRuns", e.target.value)} />
        ))}
        {field("remediation.per_secs", "…per seconds", (p) => (
          <Input {...p} type="number" min={1} value={draft.remediationPer} onChange={(e) => set("remediationPer", e.target.value)} />
        ))}
      </fieldset>
      <label className="flex items-center gap-2 text-sm">
        <input type="checkbox" checked={draft.enabled} onChange={(e) => set("enabled", e.target.checked)} /> Enabled
      </label>
      <ErrorNote error={general} />
      <Button type="submit" disabled={pending}>
        {submitLabel}
      </Button>
    </form>
  );
}

interface FieldProps {
  id: string;
  "aria-invalid"?: boolean;
  "aria-describedby"?: string;
}
