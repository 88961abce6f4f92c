// The notifications bell: the org's unread count (kept fresh by the stream's `notification`
// frames), the latest notifications in a menu, and marking them read. Read marks are the org's,
// like a shared on-call inbox.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import * as Menu from "@radix-ui/react-dropdown-menu";
import { api, unwrap } from "../api/client";
import { ago } from "../lib/format";
import { Badge } from "./ui/card";
import { Button } from "./ui/button";

export function NotificationsBell({ org }: { org: string }) {
  const queryClient = useQueryClient();
  const unread = useQuery({
    queryKey: [org, "notifications", "unread"],
    queryFn: async () =>
      unwrap(await api.GET("/api/v1/orgs/{org}/notifications/unread-count", { params: { path: { org } } })).unread,
    refetchInterval: 60_000,
  });
  const latest = useQuery({
    queryKey: [org, "notifications", "latest"],
    queryFn: async () =>
      unwrap(await api.GET("/api/v1/orgs/{org}/notifications", { params: { path: { org }, query: { limit: 10 } } })).items,
  });
  const readAll = useMutation({
    mutationFn: async () =>
      unwrap(await api.POST("/api/v1/orgs/{org}/notifications/read-all", { params: { path: { org } } })),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: [org, "notifications"] }),
  });
  const count = unread.data ?? 0;
  return (
    <Menu.Root modal={false}>
      <Menu.Trigger asChild>
        <Button variant="ghost" size="sm" data-testid="notifications-bell">
          <svg aria-hidden="true" viewBox="0 0 24 24" className="h-4 w-4" fill="none" stroke="currentColor" strokeWidth="2" strokeLinecap="round" strokeLinejoin="round">
            <path d="M6 8a6 6 0 0 1 12 0c0 7 3 9 3 9H3s3-2 3-9" />
            <path d="M10.3 21a1.94 1.94 0 0 0 3.4 0" />
          </svg>
          <span className="sr-only">Notifications,</span>
          <span data-testid="unread-count">{count}</span>
          <span className="sr-only">unread</span>
        </Button>
      </Menu.Trigger>
      <Menu.Portal>
        <Menu.Content align="end" sideOffset={4} className="z-50 w-80 rounded-md border border-border bg-card p-2 text-fg shadow-md">
          <div className="mb-1 flex items-center justify-between px-1">
            <Menu.Label className="text-sm font-medium">Notifications</Menu.Label>
            <Menu.Item
              disabled={count === 0}
              onSelect={(e) => {
                e.preventDefault();
                readAll.mutate();
              }}
              className="cursor-pointer rounded px-2 py-1 text-xs text-primary outline-none data-[disabled]:opacity-50 data-[highlighted]:bg-muted"
            >
              Mark all read
            </Menu.Item>
          </div>
          {latest.data?.length ? (
            latest.data.map((n) => (
              <Menu.Item key={n.id} className="rounded px-2 py-1.5 text-sm outline-none data-[highlighted]:bg-muted">
                <div className="flex items-center gap-2">
                  <Badge tone={n.severity === "critical" ? "bad" : n.severity === "warning" ? "warn" : "info"}>{n.change}</Badge>
                  <span className={n.read_at ? "text-muted-fg" : "font-medium"}>{n.title}</span>
                </div>
                <div className="text-xs text-muted-fg">{ago(n.created_at)}</div>
              </Menu.Item>
            ))
          ) : (
            <p className="px-2 py-3 text-sm text-muted-fg">Nothing yet.</p>
          )}
        </Menu.Content>
      </Menu.Portal>
    </Menu.Root>
  );
}
