// Cron schedules: the list with each one's next fire time shown in the schedule's own time zone,
// a create form (a command on chosen hosts), pause/resume and delete.
import { useState, type FormEvent } from "react";
import { useParams } from "react-router";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, errorMessage, unwrap, type Schemas } from "../api/client";
import { useHosts } from "../api/queries";
import { Button } from "../components/ui/button";
import { Badge, Card, Empty, ErrorNote, PageHeader, Table, Td, Th } from "../components/ui/card";
import { Dialog } from "../components/ui/dialog";
import { Input, Label, Select } from "../components/ui/input";
import { describeJob } from "./Jobs";

/** A time in a given IANA zone, e.g. "Sat, 28 Nov 2026, 14:00 Europe/Berlin". */
export function inZone(iso: string | null | undefined, zone: string): string {
  if (!iso) return "–";
  try {
    const text = new Intl.DateTimeFormat("en-GB", {
      timeZone: zone,
      weekday: "short",
      day: "numeric",
      month: "short",
      year: "numeric",
      hour: "2-digit",
      minute: "2-digit",
    }).format(new Date(iso));
    return `${text} ${zone}`;
  } catch {
    return new Date(iso).toISOString();
  }
}

export function Schedules() {
  const { org = "" } = useParams();
  const queryClient = useQueryClient();
  const [creating, setCreating] = useState(false);
  const schedules = useQuery({
    queryKey: [org, "schedules"],
    queryFn: async () =>
      unwrap(await api.GET("/api/v1/orgs/{org}/schedules", { params: { path: { org }, query: { limit: 500 } } })).items,
  });
  const invalidate = () => void queryClient.invalidateQueries({ queryKey: [org, "schedules"] });
  const toggle = useMutation({
    mutationFn: async (schedule: Schemas["Schedule"]) =>
      unwrap(
        await api.PATCH("/api/v1/orgs/{org}/schedules/{schedule}", {
          params: { path: { org, schedule: schedule.id } },
          body: { suspend: !schedule.spec.suspend },
        }),
      ),
    onSuccess: invalidate,
  });
  const remove = useMutation({
    mutationFn: async (id: string) =>
      unwrap(await api.DELETE("/api/v1/orgs/{org}/schedules/{schedule}", { params: { path: { org, schedule: id } } })),
    onSuccess: invalidate,
  });

  return (
    <>
      <PageHeader title="Schedules" actions={<Button onClick={() => setCreating(true)}>New schedule</Button>} />
      <ErrorNote error={[schedules.error, toggle.error, remove.error].filter(Boolean).map(errorMessage).join("; ") || null} />
      <Card>
        {schedules.data?.length ? (
          <Table data-testid="schedules-table">
            <thead>
              <tr>
                <Th>Name</Th>
                <Th>Cron</Th>
                <Th>Runs</Th>
                <Th>Next fire</Th>
                <Th>State</Th>
                <Th>
                  <span className="sr-only">Actions</span>
                </Th>
              </tr>
            </thead>
            <tbody>
              {schedules.data.map((s) => (
                <tr key={s.id}>
                  <Td>{s.spec.name}</Td>
                  <Td className="font-mono text-xs">{s.spec.cron}</Td>
                  <Td className="max-w-60 truncate font-mono text-xs">{describeJob(s.spec.template.kind)}</Td>
                  <Td>{s.spec.suspend ? "paused" : inZone(s.next_fire_at, s.spec.timezone)}</Td>
                  <Td>
                    <Badge tone={s.spec.suspend ? "warn" : "good"}>{s.spec.suspend ? "paused" : "active"}</Badge>
                  </Td>
                  <Td className="flex gap-2">
                    <Button size="sm" variant="outline" onClick={() => toggle.mutate(s)}>
                      {s.spec.suspend ? "Resume" : "Pause"}
                    </Button>
                    <Button size="sm" variant="ghost" onClick={() => remove.mutate(s.id)} aria-label={`Delete ${s.spec.name}`}>
                      Delete
                    </Button>
                  </Td>
                </tr>
              ))}
            </tbody>
          </Table>
        ) : (
          <Empty>{schedules.isLoading ? "Loading…" : "No schedules yet."}</Empty>
        )}
      </Card>
      <NewSchedule org={org} open={creating} onOpenChange={setCreating} onCreated={invalidate} />
    </>
  );
}

function NewSchedule({ org, open, onOpenChange, onCreated }: { org: string; open: boolean; onOpenChange: (o: boolean) => void; onCreated: () => void }) {
  const hosts = useHosts(org);
  const [name, setName] = useState("");
  const [cron, setCron] = useState("0 4 * * *");
  const [timezone, setTimezone] = useState(Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC");
  const [host, setHost] = useState("");
  const [program, setProgram] = useState("");
  const [args, setArgs] = useState("");
  const create = useMutation({
    mutationFn: async (spec: Schemas["ScheduleSpec"]) =>
      unwrap(await api.POST("/api/v1/orgs/{org}/schedules", { params: { path: { org } }, body: spec })),
    onSuccess: () => {
      onCreated();
      onOpenChange(false);
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate({
      name,
      cron,
      timezone,
      suspend: false,
      concurrency_policy: "forbid",
      history_limit: 20,
      conditions: { host_online: false },
      template: { hosts: [host], kind: { type: "command", program, args: args.split("\n").filter(Boolean), env: {} } },
    });
  };
  return (
    <Dialog open={open} onOpenChange={onOpenChange} title="New schedule" description="Run a command on a host on a cron schedule.">
      <form onSubmit={submit} className="flex flex-col gap-3">
        <div>
          <Label htmlFor="schedule-name">Name</Label>
          <Input id="schedule-name" required value={name} onChange={(e) => setName(e.target.value)} />
        </div>
        <div className="grid grid-cols-2 gap-3">
          <div>
            <Label htmlFor="schedule-cron">Cron (5 fields)</Label>
            <Input id="schedule-cron" required value={cron} onChange={(e) => setCron(e.target.value)} />
          </div>
          <div>
            <Label htmlFor="schedule-tz">Time zone</Label>
            <Input id="schedule-tz" required value={timezone} onChange={(e) => setTimezone(e.target.value)} />
          </div>
        </div>
        <div>
          <Label htmlFor="schedule-host">Host</Label>
          <Select id="schedule-host" required value={host} onChange={(e) => setHost(e.target.value)}>
            <option value="">Choose a host</option>
            {(hosts.data ?? []).map((h) => (
              <option key={h.id} value={h.id}>
                {h.name}
              </option>
            ))}
          </Select>
        </div>
        <div>
          <Label htmlFor="schedule-program">Program</Label>
          <Input id="schedule-program" required pattern="/.*" placeholder="/bin/echo" value={program} onChange={(e) => setProgram(e.target.value)} />
        </div>
        <div>
          <Label htmlFor="schedule-args">Arguments, one per line</Label>
          <textarea
            id="schedule-args"
            className="min-h-16 w-full rounded-md border border-border bg-card p-2 font-mono text-sm"
            value={args}
            onChange={(e) => setArgs(e.target.value)}
          />
        </div>
        <ErrorNote error={create.error ? errorMessage(create.error) : null} />
        <Button type="submit" disabled={create.isPending}>
          Create schedule
        </Button>
      </form>
    </Dialog>
  );
}
