import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { ApiError, type Schemas } from "../api/client";
import { AlertRuleForm, draftOf, fieldError, specOf } from "./AlertRuleForm";

afterEach(cleanup);

const full: Schemas["AlertRuleSpec"] = {
  name: "restart on crash",
  kind: "game.server_stopping",
  host: "0195f5a4-0000-7000-8000-000000000001",
  game: "main",
  text: "crash",
  players_above: 0,
  players_below: 10,
  threshold: { count: 3, window_secs: 600 },
  resolve_kind: "game.server_started",
  cooldown_secs: 300,
  severity: "critical",
  channels: ["in_app", "discord:ops"],
  remediation: { action: "restart", max_runs: 2, per_secs: 3600 },
  enabled: false,
};

describe("the alert rule form's spec", () => {
  it("round-trips every field through the form's draft", () => {
    expect(specOf(draftOf(full))).toEqual(full);
  });

  it("leaves out what is left empty and defaults to in-app delivery", () => {
    const spec = specOf({ ...draftOf(), name: "x" });
    expect(spec).toMatchObject({ name: "x", kind: "host.offline", host: null, threshold: null, remediation: null, cooldown_secs: 0 });
    expect(spec.channels).toEqual(["in_app"]);
  });

  it("sends a half-filled threshold as typed so the server can say which half is missing", () => {
    expect(specOf({ ...draftOf(), thresholdCount: "3" }).threshold).toEqual({ count: 3, window_secs: 0 });
  });
});

describe("fieldError", () => {
  it("gives the message of an error that names exactly one of the fields", () => {
    const error = new ApiError(422, "invalid_alert_rule", "threshold needs count and window_secs of at least 1", "threshold.count");
    expect(fieldError(error, ["threshold.count"])).toMatch(/threshold needs/);
    expect(fieldError(error, ["threshold"])).toBeNull();
    expect(fieldError(new Error("network"), ["name"])).toBeNull();
  });
});

describe("AlertRuleForm", () => {
  const props = { hosts: [{ id: full.host!, name: "eu-1" }], webhooks: ["ops"], pending: false, submitLabel: "Save rule" };

  it("shows a 422's message at its field, marked invalid, and other errors at the top", () => {
    const error = new ApiError(422, "invalid_alert_rule", "remediation.action: unknown game action", "remediation.action");
    render(<AlertRuleForm {...props} error={error} onSubmit={() => {}} />);
    const action = screen.getByLabelText("Action");
    expect(action.getAttribute("aria-invalid")).toBe("true");
    expect(document.getElementById(action.getAttribute("aria-describedby") ?? "")?.textContent).toBe("remediation.action: unknown game action");
    expect(screen.queryByRole("alert")).toBeNull();
    cleanup();
    render(<AlertRuleForm {...props} error={new ApiError(503, "unavailable", "try again")} onSubmit={() => {}} />);
    expect(screen.getByRole("alert").textContent).toBe("try again");
  });

  it("edits an existing rule and submits every field", () => {
    const onSubmit = vi.fn();
    render(<AlertRuleForm {...props} initial={full} error={null} onSubmit={onSubmit} />);
    expect((screen.getByLabelText("Discord: ops") as HTMLInputElement).checked).toBe(true);
    fireEvent.change(screen.getByLabelText("Cooldown in seconds"), { target: { value: "60" } });
    fireEvent.click(screen.getByRole("button", { name: "Save rule" }));
    expect(onSubmit).toHaveBeenCalledWith({ ...full, cooldown_secs: 60 });
  });
});
