// The fleet at a glance: hosts by status, players online, recent jobs. Kept live by the org stream.
import { Link, useParams } from "react-router";
import { useHosts, useJobs } from "../api/queries";
import { Badge, Card, CardTitle, Empty, ErrorNote, PageHeader, Table, Td, Th } from "../components/ui/card";
import { errorMessage, type Host } from "../api/client";
import { ago, jobTone, presenceTone, shortId } from "../lib/format";
import { severityTone, useAlerts } from "./Alerts";

export function playersOnline(host: Host): number {
  return (host.last_heartbeat?.games ?? []).reduce((sum, game) => sum + (game.players_online ?? 0), 0);
}

export function Overview() {
  const { org = "" } = useParams();
  const hosts = useHosts(org);
  const jobs = useJobs(org, {}, 10);
  const firing = useAlerts(org, "open", 20);
  const list = hosts.data ?? [];
  const counts = { online: 0, stale: 0, offline: 0, never: 0 };
  let players = 0;
  for (const host of list) {
    counts[host.presence ?? "never"]++;
    players += playersOnline(host);
  }
  const problems = list.filter((h) => h.presence === "offline" || h.presence === "stale").slice(0, 20);

  return (
    <>
      <PageHeader title="Overview" />
      <ErrorNote error={hosts.error ? errorMessage(hosts.error) : null} />
      <div className="grid grid-cols-2 gap-3 lg:grid-cols-5" data-testid="overview-counts">
        <Stat label="Hosts" value={list.length} />
        <Stat label="Online" value={counts.online} />
        <Stat label="Stale" value={counts.stale} />
        <Stat label="Offline" value={counts.offline} />
        <Stat label="Players online" value={players} />
      </div>
      <div className="mt-4 grid gap-4 lg:grid-cols-2">
        <Card>
          <CardTitle>Firing alerts</CardTitle>
          {firing.data?.length ? (
            <ul className="divide-y divide-border" data-testid="firing-alerts">
              {firing.data.map((alert) => (
                <li key={alert.id} className="flex items-center justify-between gap-2 py-2 text-sm">
                  <span>
                    <Badge tone={severityTone(alert.severity)}>{alert.severity}</Badge> {alert.message}
                  </span>
                  <span className="shrink-0 text-muted-fg">{ago(alert.raised_at)}</span>
                </li>
              ))}
            </ul>
          ) : (
            <Empty>{firing.isLoading ? "Loading…" : "Nothing is firing."}</Empty>
          )}
        </Card>
        <Card>
          <CardTitle>Recent jobs</CardTitle>
          {jobs.data?.length ? (
            <Table>
              <thead>
                <tr>
                  <Th>Job</Th>
                  <Th>What</Th>
                  <Th>State</Th>
                  <Th>Created</Th>
                </tr>
              </thead>
              <tbody>
                {jobs.data.map((job) => (
                  <tr key={job.id}>
                    <Td>
                      <Link className="font-mono text-primary underline" to={`/orgs/${org}/jobs/${job.id}`}>
                        {shortId(job.id)}
                      </Link>
                    </Td>
                    <Td className="max-w-48 truncate">{job.kind.type === "command" ? job.kind.program : `${job.kind.game}: ${job.kind.action}`}</Td>
                    <Td>
                      <Badge tone={jobTone(job.state)}>{job.state}</Badge>
                    </Td>
                    <Td>{ago(job.created_at)}</Td>
                  </tr>
                ))}
              </tbody>
            </Table>
          ) : (
            <Empty>No jobs yet.</Empty>
          )}
        </Card>
        <Card>
          <CardTitle>Hosts needing attention</CardTitle>
          {problems.length ? (
            <ul className="divide-y divide-border">
              {problems.map((host) => (
                <li key={host.id} className="flex items-center justify-between py-2 text-sm">
                  <Link className="text-primary underline" to={`/orgs/${org}/hosts/${host.id}`}>
                    {host.name}
                  </Link>
                  <span className="flex items-center gap-2">
                    <span className="text-muted-fg">{ago(host.last_heartbeat_at)}</span>
                    <Badge tone={presenceTone(host.presence)}>{host.presence}</Badge>
                  </span>
                </li>
              ))}
            </ul>
          ) : (
            <Empty>{hosts.isLoading ? "Loading…" : "Every host is online."}</Empty>
          )}
        </Card>
      </div>
    </>
  );
}

function Stat({ label, value }: { label: string; value: number }) {
  return (
    <Card>
      <div className="text-sm text-muted-fg">{label}</div>
      <div className="text-2xl font-semibold tabular-nums">{value}</div>
    </Card>
  );
}
