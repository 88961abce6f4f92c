// Alerts: the rules (create and edit with every field, enable/disable, delete) and the history
// (open, resolved, fired).
import { useState } from "react";
import { Link, useParams } from "react-router";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, errorMessage, unwrap, type Schemas } from "../api/client";
import { useHosts } from "../api/queries";
import { AlertRuleForm } from "../components/AlertRuleForm";
import { Button } from "../components/ui/button";
import { Badge, Card, CardTitle, Empty, ErrorNote, PageHeader, Table, Td, Th } from "../components/ui/card";
import { Dialog } from "../components/ui/dialog";
import { Label, Select } from "../components/ui/input";
import { ago } from "../lib/format";

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
  const [editing, setEditing] = useState<Schemas["AlertRule"] | null>(null);
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
                      <Button size="sm" variant="outline" onClick={() => setEditing(rule)} aria-label={`Edit ${rule.spec.name}`}>
                        Edit
                      </Button>
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
      <RuleDialog
        org={org}
        rule={editing}
        open={creating || editing !== null}
        onOpenChange={(o) => {
          if (!o) {
            setCreating(false);
            setEditing(null);
          }
        }}
        onSaved={invalidate}
      />
    </>
  );
}

/** The rule form in a dialog: a new rule (`POST`) or an edit of `rule` (`PUT`). */
function RuleDialog({
  org,
  rule,
  open,
  onOpenChange,
  onSaved,
}: {
  org: string;
  rule: Schemas["AlertRule"] | null;
  open: boolean;
  onOpenChange: (o: boolean) => void;
  onSaved: () => void;
}) {
  const hosts = useHosts(org);
  const settings = useQuery({
    queryKey: [org, "settings"],
    queryFn: async () => unwrap(await api.GET("/api/v1/orgs/{org}/settings", { params: { path: { org } } })),
    enabled: open,
  });
  const save = useMutation({
    mutationFn: async (spec: Schemas["AlertRuleSpec"]) =>
      rule
        ? unwrap(await api.PUT("/api/v1/orgs/{org}/alert-rules/{rule}", { params: { path: { org, rule: rule.id } }, body: spec }))
        : unwrap(await api.POST("/api/v1/orgs/{org}/alert-rules", { params: { path: { org } }, body: spec })),
    onSuccess: () => {
      onSaved();
      onOpenChange(false);
    },
  });
  return (
    <Dialog
      open={open}
      onOpenChange={(o) => {
        if (!o) save.reset();
        onOpenChange(o);
      }}
      title={rule ? `Edit ${rule.spec.name}` : "New alert rule"}
      description="Raise an alert when events match; deliver it in the app or to Discord, and optionally run a game action."
    >
      {open && (
        <AlertRuleForm
          key={rule?.id ?? "new"}
          initial={rule?.spec}
          hosts={(hosts.data ?? []).map((h) => ({ id: h.id, name: h.name }))}
          webhooks={(settings.data?.discord_webhooks ?? []).map((w) => w.name)}
          error={save.error}
          pending={save.isPending}
          submitLabel={rule ? "Save rule" : "Create rule"}
          onSubmit={(spec) => save.mutate(spec)}
        />
      )}
    </Dialog>
  );
}
