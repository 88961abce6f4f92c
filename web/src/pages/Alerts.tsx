// Alerts: the rules (create, enable/disable, delete) and the history (open, resolved, fired).
import { useState, type FormEvent } from "react";
import { Link, useParams } from "react-router";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, errorMessage, unwrap, type Schemas } from "../api/client";
import { useHosts } from "../api/queries";
import { Button } from "../components/ui/button";
import { Badge, Card, CardTitle, Empty, ErrorNote, PageHeader, Table, Td, Th } from "../components/ui/card";
import { Dialog } from "../components/ui/dialog";
import { Input, Label, Select } from "../components/ui/input";
import { ago } from "../lib/format";

const KINDS = ["host.offline", "host.stale", "job.failed", "job.timed_out", "job.lost", "game.chat", "game.player_joined", "game.player_left"];

export function severityTone(severity: string) {
  return severity === "critical" ? "bad" : severity === "warning" ? "warn" : "info";
}

export function useAlerts(org: string, status?: Schemas["AlertStatus"], limit = 50) {
  return useQuery({
    queryKey: [org, "alerts", "list", status ?? "any", limit],
    queryFn: async () =>
      unwrap(await api.GET("/api/v1/orgs/{org}/alerts", { params: { path: { org }, query: { status, limit } } })).items,
  });
}

export function Alerts() {
  const { org = "" } = useParams();
  const queryClient = useQueryClient();
  const [creating, setCreating] = useState(false);
  const [status, setStatus] = useState<"" | Schemas["AlertStatus"]>("");
  const hosts = useHosts(org);
  const names = new Map((hosts.data ?? []).map((h) => [h.id, h.name]));
  const rules = useQuery({
    queryKey: [org, "alerts", "rules"],
    queryFn: async () =>
      unwrap(await api.GET("/api/v1/orgs/{org}/alert-rules", { params: { path: { org }, query: { limit: 500 } } })).items,
  });
  const history = useAlerts(org, status || undefined, 100);
  const invalidate = () => void queryClient.invalidateQueries({ queryKey: [org, "alerts"] });
  const toggle = useMutation({
    mutationFn: async (rule: Schemas["AlertRule"]) =>
      unwrap(
        await api.PUT("/api/v1/orgs/{org}/alert-rules/{rule}", {
          params: { path: { org, rule: rule.id } },
          body: { ...rule.spec, enabled: !rule.spec.enabled },
        }),
      ),
    onSuccess: invalidate,
  });
  const remove = useMutation({
    mutationFn: async (rule: string) =>
      unwrap(await api.DELETE("/api/v1/orgs/{org}/alert-rules/{rule}", { params: { path: { org, rule } } })),
    onSuccess: invalidate,
  });

  return (
    <>
      <PageHeader title="Alerts" actions={<Button onClick={() => setCreating(true)}>New rule</Button>} />
      <ErrorNote error={[rules.error, toggle.error, remove.error].filter(Boolean).map(errorMessage).join("; ") || null} />
      <div className="flex flex-col gap-4">
        <Card>
          <CardTitle>Rules</CardTitle>
          {rules.data?.length ? (
            <Table data-testid="alert-rules-table">
              <thead>
                <tr>
                  <Th>Name</Th>
                  <Th>On</Th>
                  <Th>Severity</Th>
                  <Th>Channels</Th>
                  <Th>State</Th>
                  <Th>
                    <span className="sr-only">Actions</span>
                  </Th>
                </tr>
              </thead>
              <tbody>
                {rules.data.map((rule) => (
                  <tr key={rule.id}>
                    <Td>{rule.spec.name}</Td>
                    <Td className="font-mono text-xs">
                      {rule.spec.kind}
                      {rule.spec.host ? ` on ${names.get(rule.spec.host) ?? rule.spec.host}` : ""}
                    </Td>
                    <Td>
                      <Badge tone={severityTone(rule.spec.severity)}>{rule.spec.severity}</Badge>
                    </Td>
                    <Td>{rule.spec.channels?.join(", ") ?? "org default"}</Td>
                    <Td>{rule.spec.enabled ? "enabled" : "disabled"}</Td>
                    <Td className="flex gap-2">
                      <Button size="sm" variant="outline" onClick={() => toggle.mutate(rule)}>
                        {rule.spec.enabled ? "Disable" : "Enable"}
                      </Button>
                      <Button size="sm" variant="ghost" onClick={() => remove.mutate(rule.id)} aria-label={`Delete ${rule.spec.name}`}>
                        Delete
                      </Button>
                    </Td>
                  </tr>
                ))}
              </tbody>
            </Table>
          ) : (
            <Empty>{rules.isLoading ? "Loading…" : "No rules yet."}</Empty>
          )}
        </Card>
        <Card>
          <CardTitle>History</CardTitle>
          <div className="mb-3 w-48">
            <Label htmlFor="alert-status">Status</Label>
            <Select id="alert-status" value={status} onChange={(e) => setStatus(e.target.value as typeof status)}>
              <option value="">Any</option>
              <option value="open">open</option>
              <option value="resolved">resolved</option>
              <option value="fired">fired</option>
            </Select>
          </div>
          {history.data?.length ? (
            <Table data-testid="alerts-table">
              <thead>
                <tr>
                  <Th>Raised</Th>
                  <Th>Rule</Th>
                  <Th>Host</Th>
                  <Th>Message</Th>
                  <Th>Status</Th>
                </tr>
              </thead>
              <tbody>
                {history.data.map((alert) => (
                  <tr key={alert.id}>
                    <Td>{ago(alert.raised_at)}</Td>
                    <Td>{alert.rule_name}</Td>
                    <Td>
                      {alert.host ? (
                        <Link className="text-primary underline" to={`/orgs/${org}/hosts/${alert.host}`}>
                          {names.get(alert.host) ?? alert.host.slice(0, 8)}
                        </Link>
                      ) : (
                        "–"
                      )}
                    </Td>
                    <Td>{alert.message}</Td>
                    <Td>
                      <Badge tone={alert.status === "open" ? severityTone(alert.severity) : "neutral"}>{alert.status}</Badge>
                    </Td>
                  </tr>
                ))}
              </tbody>
            </Table>
          ) : (
            <Empty>{history.isLoading ? "Loading…" : "No alerts."}</Empty>
          )}
        </Card>
      </div>
      <NewRule org={org} open={creating} onOpenChange={setCreating} onCreated={invalidate} />
    </>
  );
}

function NewRule({ org, open, onOpenChange, onCreated }: { org: string; open: boolean; onOpenChange: (o: boolean) => void; onCreated: () => void }) {
  const hosts = useHosts(org);
  const [name, setName] = useState("");
  const [kind, setKind] = useState(KINDS[0]!);
  const [host, setHost] = useState("");
  const [severity, setSeverity] = useState<Schemas["Severity"]>("warning");
  const [text, setText] = useState("");
  const create = useMutation({
    mutationFn: async (spec: Schemas["AlertRuleSpec"]) =>
      unwrap(await api.POST("/api/v1/orgs/{org}/alert-rules", { params: { path: { org } }, body: spec })),
    onSuccess: () => {
      onCreated();
      onOpenChange(false);
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate({
      name,
      kind,
      host: host || null,
      severity,
      text: text || null,
      enabled: true,
      cooldown_secs: 0,
      channels: ["in_app"],
    });
  };
  return (
    <Dialog open={open} onOpenChange={onOpenChange} title="New alert rule" description="Raise an in-app alert when an event matches.">
      <form onSubmit={submit} className="flex flex-col gap-3">
        <div>
          <Label htmlFor="rule-name">Name</Label>
          <Input id="rule-name" required maxLength={64} value={name} onChange={(e) => setName(e.target.value)} />
        </div>
        <div>
          <Label htmlFor="rule-kind">Event</Label>
          <Select id="rule-kind" value={kind} onChange={(e) => setKind(e.target.value)}>
            {KINDS.map((k) => (
              <option key={k}>{k}</option>
            ))}
          </Select>
        </div>
        <div>
          <Label htmlFor="rule-host">Host</Label>
          <Select id="rule-host" value={host} onChange={(e) => setHost(e.target.value)}>
            <option value="">Any host</option>
            {(hosts.data ?? []).map((h) => (
              <option key={h.id} value={h.id}>
                {h.name}
              </option>
            ))}
          </Select>
        </div>
        <div>
          <Label htmlFor="rule-severity">Severity</Label>
          <Select id="rule-severity" value={severity} onChange={(e) => setSeverity(e.target.value as Schemas["Severity"])}>
            <option>info</option>
            <option>warning</option>
            <option>critical</option>
          </Select>
        </div>
        <div>
          <Label htmlFor="rule-text">Text matches (a regular expression, optional)</Label>
          <Input id="rule-text" value={text} onChange={(e) => setText(e.target.value)} />
        </div>
        <ErrorNote error={create.error ? errorMessage(create.error) : null} />
        <Button type="submit" disabled={create.isPending}>
          Create rule
        </Button>
      </form>
    </Dialog>
  );
}
