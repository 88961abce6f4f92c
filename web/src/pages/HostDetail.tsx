// One host: what its agent reports (facts, load, memory, disks, games, players), charts of its
// heartbeat history, its recent jobs, a new join token to re-enroll it, and revoking it (deleting
// the host cuts its agent at once).
import { useState } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, errorMessage, unwrap, type Schemas } from "../api/client";
import { useHost, useJobs } from "../api/queries";
import { HostCharts } from "../components/HostCharts";
import { Button } from "../components/ui/button";
import { Badge, Card, CardTitle, Empty, ErrorNote, PageHeader, Table, Td, Th } from "../components/ui/card";
import { Dialog } from "../components/ui/dialog";
import { Label, Select } from "../components/ui/input";
import { ago, bytes, jobTone, presenceTone, shortId } from "../lib/format";
import { JoinToken } from "./Hosts";

export function HostDetail() {
  const { org = "", host: hostId = "" } = useParams();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const host = useHost(org, hostId);
  const jobs = useJobs(org, { host: hostId }, 10);
  // A busy game server logs several events a second, so the newest 20 of every kind can hold no
  // chat at all: the card filters by kind on the server.
  const [eventKind, setEventKind] = useState("");
  const events = useQuery({
    queryKey: [org, "hosts", "events", hostId, eventKind],
    queryFn: async () =>
      unwrap(
        await api.GET("/api/v1/orgs/{org}/events", {
          params: { path: { org }, query: { host: hostId, kind: eventKind || undefined, limit: 20 } },
        }),
      ).items,
    refetchInterval: 10_000,
  });
  const [confirming, setConfirming] = useState(false);
  const [token, setToken] = useState<Schemas["HostCreated"] | null>(null);

  const revoke = useMutation({
    mutationFn: async () =>
      unwrap(await api.DELETE("/api/v1/orgs/{org}/hosts/{host}", { params: { path: { org, host: hostId } } })),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: [org, "hosts"] });
      navigate(`/orgs/${org}/hosts`);
    },
  });
  const reenroll = useMutation({
    mutationFn: async () =>
      unwrap(
        await api.POST("/api/v1/orgs/{org}/hosts/{host}/join-tokens", { params: { path: { org, host: hostId } } }),
      ),
    onSuccess: setToken,
  });

  if (host.error) return <ErrorNote error={errorMessage(host.error)} />;
  const data = host.data;
  if (!data) return <Empty>Loading…</Empty>;
  const beat = data.last_heartbeat;

  return (
    <>
      <PageHeader
        title={data.name}
        actions={
          <>
            <Button variant="outline" onClick={() => reenroll.mutate()}>
              New join token
            </Button>
            <Button variant="danger" onClick={() => setConfirming(true)}>
              Revoke
            </Button>
          </>
        }
      />
      <ErrorNote error={reenroll.error ? errorMessage(reenroll.error) : null} />
      <div className="grid gap-4 lg:grid-cols-2">
        <Card>
          <CardTitle>Status</CardTitle>
          <dl className="grid grid-cols-[max-content_1fr] gap-x-4 gap-y-1 text-sm">
            <dt className="text-muted-fg">Presence</dt>
            <dd>
              <Badge tone={presenceTone(data.presence)}>{data.presence ?? "no heartbeat yet"}</Badge>
            </dd>
            <dt className="text-muted-fg">Agent</dt>
            <dd>{data.connected ? "connected" : data.enrolled ? "enrolled, not connected" : "not enrolled"}</dd>
            <dt className="text-muted-fg">Last heartbeat</dt>
            <dd>{ago(data.last_heartbeat_at)}</dd>
            {data.facts && (
              <>
                <dt className="text-muted-fg">Machine</dt>
                <dd>
                  {data.facts.hostname} · {data.facts.os}/{data.facts.arch} · {data.facts.cpus} CPUs ·{" "}
                  {bytes(data.facts.memory_total_bytes)}
                </dd>
                <dt className="text-muted-fg">Agent version</dt>
                <dd>{data.facts.agent_version}</dd>
              </>
            )}
            {beat?.load && (
              <>
                <dt className="text-muted-fg">Load</dt>
                <dd className="tabular-nums">
                  {beat.load.one.toFixed(2)} / {beat.load.five.toFixed(2)} / {beat.load.fifteen.toFixed(2)}
                </dd>
              </>
            )}
            {beat?.memory && (
              <>
                <dt className="text-muted-fg">Memory free</dt>
                <dd>
                  {bytes(beat.memory.available_bytes)} of {bytes(beat.memory.total_bytes)}
                </dd>
              </>
            )}
            {beat?.disks.map((disk) => (
              <div key={disk.mount} className="contents">
                <dt className="text-muted-fg">Disk {disk.mount}</dt>
                <dd>
                  {bytes(disk.available_bytes)} free of {bytes(disk.total_bytes)}
                </dd>
              </div>
            ))}
          </dl>
        </Card>
        <Card>
          <CardTitle>Games</CardTitle>
          {beat?.games.length ? (
            <ul className="flex flex-col gap-2 text-sm">
              {beat.games.map((game) => (
                <li key={game.instance + game.game}>
                  <Badge tone={game.up ? "good" : "bad"}>{game.up ? "up" : "down"}</Badge>{" "}
                  <strong>{game.instance || game.game}</strong> ({game.game}) · {game.players_online}
                  {game.max_players ? `/${game.max_players}` : ""} players
                  {game.world_time ? ` · ${game.world_time}` : ""}
                </li>
              ))}
            </ul>
          ) : (
            <Empty>No game servers reported.</Empty>
          )}
        </Card>
        <HostCharts org={org} host={hostId} />
        <Card>
          <CardTitle>Players seen</CardTitle>
          {data.players?.length ? (
            <Table>
              <thead>
                <tr>
                  <Th>Name</Th>
                  <Th>Game</Th>
                  <Th>Online</Th>
                  <Th>Last seen</Th>
                </tr>
              </thead>
              <tbody>
                {data.players.map((player) => (
                  <tr key={player.instance + player.id}>
                    <Td>{player.name}</Td>
                    <Td>{player.instance}</Td>
                    <Td>{player.online ? "yes" : "no"}</Td>
                    <Td>{ago(player.last_seen_at)}</Td>
                  </tr>
                ))}
              </tbody>
            </Table>
          ) : (
            <Empty>No players seen yet.</Empty>
          )}
        </Card>
        <Card>
          <div className="flex flex-wrap items-start justify-between gap-2">
            <CardTitle>Recent game events</CardTitle>
            <div className="w-44">
              <Label htmlFor="host-event-kind" className="sr-only">
                Event kind
              </Label>
              <Select id="host-event-kind" value={eventKind} onChange={(e) => setEventKind(e.target.value)}>
                {EVENT_FILTERS.map(([kind, label]) => (
                  <option key={kind} value={kind}>
                    {label}
                  </option>
                ))}
              </Select>
            </div>
          </div>
          {events.data?.length ? (
            <ul className="divide-y divide-border text-sm" data-testid="host-events">
              {events.data.map((event) => (
                <li key={event.id} className="py-1.5 break-words">
                  <span className="font-mono text-xs text-muted-fg">{event.kind}</span>{" "}
                  {event.player && <strong>{event.player.name}</strong>} {eventText(event.data)}
                  <span className="ml-2 text-xs text-muted-fg">{ago(event.at)}</span>
                </li>
              ))}
            </ul>
          ) : (
            <Empty>{events.isLoading ? "Loading…" : "No game events yet."}</Empty>
          )}
        </Card>
        <Card>
          <CardTitle>Recent jobs</CardTitle>
          {jobs.data?.length ? (
            <ul className="divide-y divide-border text-sm">
              {jobs.data.map((job) => (
                <li key={job.id} className="flex items-center justify-between py-1.5">
                  <Link className="font-mono text-primary underline" to={`/orgs/${org}/jobs/${job.id}`}>
                    {shortId(job.id)}
                  </Link>
                  <Badge tone={jobTone(job.state)}>{job.state}</Badge>
                </li>
              ))}
            </ul>
          ) : (
            <Empty>No jobs on this host yet.</Empty>
          )}
          <Link className="mt-2 inline-block text-sm text-primary underline" to={`/orgs/${org}/jobs/new?host=${hostId}`}>
            Run a job here
          </Link>
        </Card>
      </div>
      <Dialog open={confirming} onOpenChange={setConfirming} title={`Revoke ${data.name}?`} description="The host is deleted, its credential stops working and its agent is disconnected now.">
        <ErrorNote error={revoke.error ? errorMessage(revoke.error) : null} />
        <div className="flex justify-end gap-2">
          <Button variant="outline" onClick={() => setConfirming(false)}>
            Keep it
          </Button>
          <Button variant="danger" onClick={() => revoke.mutate()} disabled={revoke.isPending}>
            Revoke the host
          </Button>
        </div>
      </Dialog>
      <Dialog open={token !== null} onOpenChange={(open) => !open && setToken(null)} title="Re-enroll the host">
        {token && <JoinToken server={window.location.origin} token={token.join_token} expires={token.join_token_expires_at} />}
      </Dialog>
    </>
  );
}

/** The kinds the host's events card can show alone (the API filters by one kind). */
export const EVENT_FILTERS: [string, string][] = [
  ["", "All events"],
  ["chat", "Chat"],
  ["player_connected", "Connections"],
  ["player_disconnected", "Disconnections"],
  ["player_died", "Deaths"],
  ["server_started", "Server starts"],
  ["server_stopping", "Server stops"],
  ["error", "Errors"],
];

/** What an event says, as text: a chat's message, else its other fields. */
export function eventText(data: unknown): string {
  if (!data || typeof data !== "object") return "";
  const record = data as Record<string, unknown>;
  if (typeof record.message === "string") return record.message;
  return Object.entries(record)
    .filter(([, value]) => value !== null && typeof value !== "object")
    .map(([key, value]) => `${key}: ${String(value)}`)
    .join(", ");
}
