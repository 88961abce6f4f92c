// Org settings: members and their roles, invites, API keys (the secret shown once), and the audit
// log. What a role may not do, the server refuses with a message this page shows.
import { useState, type FormEvent } from "react";
import { useParams } from "react-router";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, errorMessage, unwrap, type Schemas } from "../api/client";
import { useAuth } from "../auth/AuthProvider";
import { Button } from "../components/ui/button";
import { Badge, Card, CardTitle, Empty, ErrorNote, PageHeader, Table, Td, Th } from "../components/ui/card";
import { Input, Label, Select } from "../components/ui/input";
import { AlertSettings } from "../components/AlertSettings";
import { ago } from "../lib/format";
import { inviteLink } from "./AcceptInvite";

const ROLES = ["owner", "admin", "operator", "viewer"] as const;

export function Settings() {
  const { org = "" } = useParams();
  const { me } = useAuth();
  const role = me?.memberships.find((m) => m.org.id === org)?.role ?? "viewer";
  const manages = role === "owner" || role === "admin";
  return (
    <>
      <PageHeader title="Settings" />
      <div className="flex flex-col gap-4">
        <Members org={org} manages={manages} />
        {manages && <Invites org={org} />}
        {manages && <ApiKeys org={org} />}
        {manages && <AlertSettings org={org} />}
        {manages && <Audit org={org} />}
        {!manages && <p className="text-sm text-muted-fg">Your role ({role}) can read members only; owners and admins manage the rest.</p>}
      </div>
    </>
  );
}

function Members({ org, manages }: { org: string; manages: boolean }) {
  const queryClient = useQueryClient();
  const members = useQuery({
    queryKey: [org, "members"],
    queryFn: async () =>
      unwrap(await api.GET("/api/v1/orgs/{org}/members", { params: { path: { org }, query: { limit: 500 } } })).items,
  });
  const setRole = useMutation({
    mutationFn: async ({ user, role }: { user: string; role: string }) =>
      unwrap(await api.PATCH("/api/v1/orgs/{org}/members/{user}", { params: { path: { org, user } }, body: { role } })),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: [org, "members"] }),
  });
  return (
    <Card>
      <CardTitle>Members</CardTitle>
      <ErrorNote error={members.error ? errorMessage(members.error) : setRole.error ? errorMessage(setRole.error) : null} />
      <Table data-testid="members-table">
        <thead>
          <tr>
            <Th>Name</Th>
            <Th>Email</Th>
            <Th>Role</Th>
            <Th>Joined</Th>
          </tr>
        </thead>
        <tbody>
          {(members.data ?? []).map((m) => (
            <tr key={m.user.id}>
              <Td>{m.user.display_name}</Td>
              <Td>{m.user.email}</Td>
              <Td>
                {manages ? (
                  <Select
                    aria-label={`Role of ${m.user.email}`}
                    className="h-8 w-32"
                    value={m.role}
                    onChange={(e) => setRole.mutate({ user: m.user.id, role: e.target.value })}
                  >
                    {ROLES.map((r) => (
                      <option key={r}>{r}</option>
                    ))}
                  </Select>
                ) : (
                  m.role
                )}
              </Td>
              <Td>{ago(m.joined_at)}</Td>
            </tr>
          ))}
        </tbody>
      </Table>
    </Card>
  );
}

function Invites({ org }: { org: string }) {
  const queryClient = useQueryClient();
  const [email, setEmail] = useState("");
  const [role, setRole] = useState("viewer");
  const [created, setCreated] = useState<Schemas["InviteCreated"] | null>(null);
  const invites = useQuery({
    queryKey: [org, "invites"],
    queryFn: async () =>
      unwrap(await api.GET("/api/v1/orgs/{org}/invites", { params: { path: { org }, query: { limit: 500 } } })).items,
  });
  const invalidate = () => void queryClient.invalidateQueries({ queryKey: [org, "invites"] });
  const create = useMutation({
    mutationFn: async (body: Schemas["CreateInvite"]) =>
      unwrap(await api.POST("/api/v1/orgs/{org}/invites", { params: { path: { org } }, body })),
    onSuccess: (result) => {
      setCreated(result);
      setEmail("");
      invalidate();
    },
  });
  const revoke = useMutation({
    mutationFn: async (invite: string) =>
      unwrap(await api.DELETE("/api/v1/orgs/{org}/invites/{invite}", { params: { path: { org, invite } } })),
    onSuccess: invalidate,
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate({ email, role });
  };
  return (
    <Card>
      <CardTitle>Invites</CardTitle>
      <form onSubmit={submit} className="mb-3 flex flex-wrap items-end gap-2">
        <div>
          <Label htmlFor="invite-email">Email</Label>
          <Input id="invite-email" type="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
        </div>
        <div>
          <Label htmlFor="invite-role">Role</Label>
          <Select id="invite-role" value={role} onChange={(e) => setRole(e.target.value)}>
            {ROLES.map((r) => (
              <option key={r}>{r}</option>
            ))}
          </Select>
        </div>
        <Button type="submit" disabled={create.isPending}>
          Invite
        </Button>
      </form>
      <ErrorNote error={create.error ? errorMessage(create.error) : revoke.error ? errorMessage(revoke.error) : null} />
      {created && (
        <p className="mb-3 text-sm" data-testid="invite-token">
          Send {created.invite.email} this link (shown once):{" "}
          <code className="break-all">{inviteLink(window.location.origin, created.token)}</code>
        </p>
      )}
      {invites.data?.length ? (
        <Table data-testid="invites-table">
          <thead>
            <tr>
              <Th>Email</Th>
              <Th>Role</Th>
              <Th>Status</Th>
              <Th>Expires</Th>
              <Th>
                <span className="sr-only">Actions</span>
              </Th>
            </tr>
          </thead>
          <tbody>
            {invites.data.map((invite) => (
              <tr key={invite.id}>
                <Td>{invite.email}</Td>
                <Td>{invite.role}</Td>
                <Td>{invite.status}</Td>
                <Td>{new Date(invite.expires_at).toLocaleString()}</Td>
                <Td>
                  {invite.status === "pending" && (
                    <Button size="sm" variant="ghost" onClick={() => revoke.mutate(invite.id)}>
                      Revoke
                    </Button>
                  )}
                </Td>
              </tr>
            ))}
          </tbody>
        </Table>
      ) : (
        <Empty>No invites.</Empty>
      )}
    </Card>
  );
}

function ApiKeys({ org }: { org: string }) {
  const queryClient = useQueryClient();
  const [name, setName] = useState("");
  const [role, setRole] = useState("viewer");
  const [created, setCreated] = useState<Schemas["ApiKeyCreated"] | null>(null);
  const keys = useQuery({
    queryKey: [org, "api-keys"],
    queryFn: async () => unwrap(await api.GET("/api/v1/orgs/{org}/api-keys", { params: { path: { org } } })).items,
  });
  const invalidate = () => void queryClient.invalidateQueries({ queryKey: [org, "api-keys"] });
  const create = useMutation({
    mutationFn: async (body: Schemas["CreateApiKey"]) =>
      unwrap(await api.POST("/api/v1/orgs/{org}/api-keys", { params: { path: { org } }, body })),
    onSuccess: (result) => {
      setCreated(result);
      setName("");
      invalidate();
    },
  });
  const revoke = useMutation({
    mutationFn: async (key: string) =>
      unwrap(await api.DELETE("/api/v1/orgs/{org}/api-keys/{key}", { params: { path: { org, key } } })),
    onSuccess: invalidate,
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate({ name, role, expires_at: null });
  };
  return (
    <Card>
      <CardTitle>API keys</CardTitle>
      <form onSubmit={submit} className="mb-3 flex flex-wrap items-end gap-2">
        <div>
          <Label htmlFor="key-name">Name</Label>
          <Input id="key-name" required value={name} onChange={(e) => setName(e.target.value)} />
        </div>
        <div>
          <Label htmlFor="key-role">Role</Label>
          <Select id="key-role" value={role} onChange={(e) => setRole(e.target.value)}>
            {ROLES.map((r) => (
              <option key={r}>{r}</option>
            ))}
          </Select>
        </div>
        <Button type="submit" disabled={create.isPending}>
          Create key
        </Button>
      </form>
      <ErrorNote error={create.error ? errorMessage(create.error) : revoke.error ? errorMessage(revoke.error) : null} />
      {created && (
        <p className="mb-3 text-sm" data-testid="api-key-secret">
          The key {created.api_key.name}, shown only now: <code className="break-all">{created.key}</code>
        </p>
      )}
      {keys.data?.length ? (
        <Table data-testid="api-keys-table">
          <thead>
            <tr>
              <Th>Name</Th>
              <Th>Prefix</Th>
              <Th>Role</Th>
              <Th>Last used</Th>
              <Th>State</Th>
              <Th>
                <span className="sr-only">Actions</span>
              </Th>
            </tr>
          </thead>
          <tbody>
            {keys.data.map((key) => (
              <tr key={key.id}>
                <Td>{key.name}</Td>
                <Td className="font-mono text-xs">{key.prefix}</Td>
                <Td>{key.role}</Td>
                <Td>{ago(key.last_used_at)}</Td>
                <Td>
                  <Badge tone={key.revoked ? "bad" : "good"}>{key.revoked ? "revoked" : "active"}</Badge>
                </Td>
                <Td>
                  {!key.revoked && (
                    <Button size="sm" variant="ghost" onClick={() => revoke.mutate(key.id)} aria-label={`Revoke ${key.name}`}>
                      Revoke
                    </Button>
                  )}
                </Td>
              </tr>
            ))}
          </tbody>
        </Table>
      ) : (
        <Empty>No API keys.</Empty>
      )}
    </Card>
  );
}

function Audit({ org }: { org: string }) {
  const audit = useQuery({
    queryKey: [org, "audit"],
    queryFn: async () =>
      unwrap(await api.GET("/api/v1/orgs/{org}/audit", { params: { path: { org }, query: { limit: 100 } } })).items,
  });
  return (
    <Card>
      <CardTitle>Audit log</CardTitle>
      <ErrorNote error={audit.error ? errorMessage(audit.error) : null} />
      {audit.data?.length ? (
        <Table data-testid="audit-table">
          <thead>
            <tr>
              <Th>When</Th>
              <Th>Who</Th>
              <Th>Action</Th>
              <Th>Target</Th>
              <Th>From</Th>
            </tr>
          </thead>
          <tbody>
            {audit.data.map((entry) => (
              <tr key={entry.id}>
                <Td>{ago(entry.at)}</Td>
                <Td>
                  {entry.actor.kind} <span className="font-mono text-xs">{entry.actor.id.slice(0, 12)}</span>
                </Td>
                <Td>{entry.action}</Td>
                <Td>
                  {entry.target_type} <span className="font-mono text-xs">{entry.target_id.slice(0, 12)}</span>
                </Td>
                <Td>{entry.client_ip ?? "–"}</Td>
              </tr>
            ))}
          </tbody>
        </Table>
      ) : (
        <Empty>{audit.isLoading ? "Loading…" : "Nothing recorded yet."}</Empty>
      )}
    </Card>
  );
}
