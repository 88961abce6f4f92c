// The org's alert settings: Discord webhooks (their URLs are secrets: only the last four
// characters come back) and the default channels rules deliver to.
import { useState, type FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, errorMessage, unwrap, type Schemas } from "../api/client";
import { Button } from "./ui/button";
import { Badge, Card, CardTitle, Empty, ErrorNote, Table, Td, Th } from "./ui/card";
import { Input, Label } from "./ui/input";

export function AlertSettings({ org }: { org: string }) {
  const queryClient = useQueryClient();
  const [name, setName] = useState("");
  const [url, setUrl] = useState("");
  const settings = useQuery({
    queryKey: [org, "settings"],
    queryFn: async () => unwrap(await api.GET("/api/v1/orgs/{org}/settings", { params: { path: { org } } })),
  });
  const patch = useMutation({
    mutationFn: async (body: Schemas["PatchSettings"]) =>
      unwrap(await api.PATCH("/api/v1/orgs/{org}/settings", { params: { path: { org } }, body })),
    onSuccess: (updated) => queryClient.setQueryData([org, "settings"], updated),
  });
  const add = (event: FormEvent) => {
    event.preventDefault();
    patch.mutate({ discord_webhooks: { [name]: url } }, { onSuccess: () => (setName(""), setUrl("")) });
  };
  const data = settings.data;
  const channels = ["in_app", ...(data?.discord_webhooks ?? []).map((w) => `discord:${w.name}`)];
  const toggleChannel = (channel: string) => {
    const current = new Set(data?.default_channels ?? []);
    if (current.has(channel)) current.delete(channel);
    else current.add(channel);
    patch.mutate({ default_channels: [...current] });
  };
  return (
    <Card>
      <CardTitle>Alert delivery</CardTitle>
      <ErrorNote error={settings.error ? errorMessage(settings.error) : patch.error ? errorMessage(patch.error) : null} />
      {data?.discord_webhooks.length ? (
        <Table data-testid="webhooks-table">
          <thead>
            <tr>
              <Th>Discord webhook</Th>
              <Th>URL ends</Th>
              <Th>State</Th>
              <Th>
                <span className="sr-only">Actions</span>
              </Th>
            </tr>
          </thead>
          <tbody>
            {data.discord_webhooks.map((hook) => (
              <tr key={hook.name}>
                <Td>{hook.name}</Td>
                <Td className="font-mono text-xs">…{hook.url_last4}</Td>
                <Td>
                  <Badge tone={hook.broken_reason ? "bad" : "good"}>{hook.broken_reason ? `broken: ${hook.broken_reason}` : "ok"}</Badge>
                </Td>
                <Td>
                  <Button size="sm" variant="ghost" onClick={() => patch.mutate({ discord_webhooks: { [hook.name]: null } })}>
                    Remove
                  </Button>
                </Td>
              </tr>
            ))}
          </tbody>
        </Table>
      ) : (
        <Empty>No Discord webhooks.</Empty>
      )}
      <form onSubmit={add} className="my-3 flex flex-wrap items-end gap-2">
        <div>
          <Label htmlFor="webhook-name">Webhook name</Label>
          <Input id="webhook-name" required pattern="[A-Za-z0-9._\-]{1,64}" value={name} onChange={(e) => setName(e.target.value)} />
        </div>
        <div className="min-w-72 flex-1">
          <Label htmlFor="webhook-url">Discord webhook URL</Label>
          <Input id="webhook-url" type="url" required placeholder="https://discord.com/api/webhooks/…" value={url} onChange={(e) => setUrl(e.target.value)} />
        </div>
        <Button type="submit" disabled={patch.isPending}>
          Save webhook
        </Button>
      </form>
      <fieldset className="text-sm">
        <legend className="mb-1 font-medium">Default channels (rules without their own)</legend>
        <div className="flex flex-wrap gap-4">
          {channels.map((channel) => (
            <label key={channel} className="flex items-center gap-1">
              <input type="checkbox" checked={data?.default_channels.includes(channel) ?? false} onChange={() => toggleChannel(channel)} />{" "}
              {channel}
            </label>
          ))}
        </div>
      </fieldset>
    </Card>
  );
}
