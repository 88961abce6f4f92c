// Hosts: the list with status, last heartbeat, games, players and load, and the add-host flow that
// shows the one-time join token and the exact enroll command.
import { useState, type FormEvent } from "react";
import { Link, useParams } from "react-router";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { api, errorMessage, unwrap, type Schemas } from "../api/client";
import { useHosts } from "../api/queries";
import { Button } from "../components/ui/button";
import { Badge, Card, Empty, ErrorNote, PageHeader, Table, Td, Th } from "../components/ui/card";
import { Dialog } from "../components/ui/dialog";
import { Input, Label } from "../components/ui/input";
import { ago, presenceTone } from "../lib/format";
import { playersOnline } from "./Overview";

export function Hosts() {
  const { org = "" } = useParams();
  const hosts = useHosts(org);
  const [adding, setAdding] = useState(false);
  const [filter, setFilter] = useState("");
  const shown = (hosts.data ?? []).filter((h) => h.name.toLowerCase().includes(filter.toLowerCase()));

  return (
    <>
      <PageHeader title="Hosts" actions={<Button onClick={() => setAdding(true)}>Add host</Button>} />
      <ErrorNote error={hosts.error ? errorMessage(hosts.error) : null} />
      <Card>
        <div className="mb-3 max-w-xs">
          <Label htmlFor="host-filter">Filter by name</Label>
          <Input id="host-filter" value={filter} onChange={(e) => setFilter(e.target.value)} />
        </div>
        {shown.length ? (
          <Table data-testid="hosts-table">
            <thead>
              <tr>
                <Th>Name</Th>
                <Th>Status</Th>
                <Th>Last heartbeat</Th>
                <Th>Games</Th>
                <Th>Players</Th>
                <Th>Load</Th>
              </tr>
            </thead>
            <tbody>
              {shown.map((host) => (
                <tr key={host.id}>
                  <Td>
                    <Link className="text-primary underline" to={`/orgs/${org}/hosts/${host.id}`}>
                      {host.name}
                    </Link>
                  </Td>
                  <Td>
                    <Badge tone={presenceTone(host.presence)}>{host.presence ?? (host.enrolled ? "no heartbeat" : "not enrolled")}</Badge>
                  </Td>
                  <Td>{ago(host.last_heartbeat_at)}</Td>
                  <Td>{(host.last_heartbeat?.games ?? []).map((g) => `${g.instance || g.game}${g.up ? "" : " (down)"}`).join(", ") || "–"}</Td>
                  <Td className="tabular-nums">{playersOnline(host)}</Td>
                  <Td className="tabular-nums">{host.last_heartbeat?.load ? host.last_heartbeat.load.one.toFixed(2) : "–"}</Td>
                </tr>
              ))}
            </tbody>
          </Table>
        ) : (
          <Empty>{hosts.isLoading ? "Loading…" : "No hosts yet. Add one and enroll its agent."}</Empty>
        )}
      </Card>
      <AddHost org={org} open={adding} onOpenChange={setAdding} />
    </>
  );
}

/** The command an admin pastes on the new host. */
export function enrollCommand(server: string, token: string): string {
  return `gsm-agent enroll --server ${server} --token ${token}`;
}

function AddHost({ org, open, onOpenChange }: { org: string; open: boolean; onOpenChange: (open: boolean) => void }) {
  const queryClient = useQueryClient();
  const [name, setName] = useState("");
  const [created, setCreated] = useState<Schemas["HostCreated"] | null>(null);
  const create = useMutation({
    mutationFn: async (hostName: string) =>
      unwrap(await api.POST("/api/v1/orgs/{org}/hosts", { params: { path: { org } }, body: { name: hostName, labels: {} } })),
    onSuccess: (result) => {
      setCreated(result);
      void queryClient.invalidateQueries({ queryKey: [org, "hosts"] });
    },
  });
  const close = (next: boolean) => {
    if (!next) {
      setCreated(null);
      setName("");
      create.reset();
    }
    onOpenChange(next);
  };
  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate(name);
  };

  return (
    <Dialog open={open} onOpenChange={close} title="Add a host" description="Name the host, then enroll its agent with the one-time token.">
      {created ? (
        <JoinToken server={window.location.origin} token={created.join_token} expires={created.join_token_expires_at} />
      ) : (
        <form onSubmit={submit} className="flex flex-col gap-3">
          <div>
            <Label htmlFor="host-name">Name</Label>
            <Input
              id="host-name"
              required
              maxLength={64}
              pattern="[A-Za-z0-9._\-]+"
              title="letters, digits, '-', '_' and '.'"
              value={name}
              onChange={(e) => setName(e.target.value)}
            />
          </div>
          <ErrorNote error={create.error ? errorMessage(create.error) : null} />
          <Button type="submit" disabled={create.isPending}>
            Create host
          </Button>
        </form>
      )}
    </Dialog>
  );
}

export function JoinToken({ server, token, expires }: { server: string; token: string; expires: string }) {
  const command = enrollCommand(server, token);
  return (
    <div className="flex flex-col gap-3">
      <p className="text-sm">
        Run this on the host. The token works once and expires {new Date(expires).toLocaleString()}; it is shown only now.
      </p>
      <pre tabIndex={0} className="overflow-x-auto rounded-md bg-log-bg p-3 text-xs text-log-fg" data-testid="enroll-command">
        {command}
      </pre>
      <Button variant="outline" onClick={() => void navigator.clipboard?.writeText(command)}>
        Copy the command
      </Button>
    </div>
  );
}
