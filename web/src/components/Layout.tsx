// The app's frame: a sidebar of the org's pages (a drawer on a phone, `NavDrawer`), the org
// switcher, the theme toggle and the user menu. Every page inside lives under /orgs/:org/.
import { useCallback, useRef, useState, type ReactNode } from "react";
import { NavLink, useNavigate, useParams } from "react-router";
import { useAuth } from "../auth/AuthProvider";
import { useTheme } from "../lib/theme";
import { cn } from "../lib/cn";
import { Button } from "./ui/button";
import { Dropdown, DropdownItem, DropdownLabel } from "./ui/dropdown";
import { useStreamStatus } from "../realtime/StreamProvider";
import { NavDrawer } from "./NavDrawer";
import { NotificationsBell } from "./NotificationsBell";

const PAGES = [
  ["overview", "Overview"],
  ["hosts", "Hosts"],
  ["jobs", "Jobs"],
  ["schedules", "Schedules"],
  ["alerts", "Alerts"],
  ["settings", "Settings"],
] as const;

export function Layout({ children }: { children: ReactNode }) {
  const { org = "" } = useParams();
  const { me, logout } = useAuth();
  const navigate = useNavigate();
  const [theme, setTheme] = useTheme();
  const [menuOpen, setMenuOpen] = useState(false);
  const menuButton = useRef<HTMLButtonElement>(null);
  const closeMenu = useCallback(() => setMenuOpen(false), []);
  const stream = useStreamStatus();
  const current = me?.memberships.find((m) => m.org.id === org);

  const nav = (
    <nav aria-label="Pages" className="flex flex-col gap-1 p-3">
      {PAGES.map(([path, label]) => (
        <NavLink
          key={path}
          to={`/orgs/${org}/${path}`}
          onClick={() => setMenuOpen(false)}
          className={({ isActive }) =>
            cn("rounded-md px-3 py-2 text-sm font-medium", isActive ? "bg-muted text-fg" : "text-muted-fg hover:bg-muted")
          }
        >
          {label}
        </NavLink>
      ))}
    </nav>
  );

  return (
    <div className="flex min-h-screen">
      <aside className="hidden w-56 shrink-0 border-r border-border md:block">
        <div className="px-6 py-4 text-lg font-bold">gsm</div>
        {nav}
      </aside>
      <NavDrawer open={menuOpen} onClose={closeMenu} opener={menuButton} label="Menu">
        <div className="px-6 py-4 text-lg font-bold">gsm</div>
        {nav}
      </NavDrawer>
      <div className="flex min-w-0 flex-1 flex-col">
        <header className="flex items-center gap-2 border-b border-border px-4 py-2">
          <Button
            ref={menuButton}
            variant="ghost"
            size="sm"
            className="md:hidden"
            aria-label="Open the menu"
            aria-expanded={menuOpen}
            onClick={() => setMenuOpen(true)}
          >
            ☰
          </Button>
          <Dropdown
            trigger={
              <Button variant="outline" size="sm" data-testid="org-switcher">
                {current?.org.name ?? "Choose an org"} ▾
              </Button>
            }
          >
            <DropdownLabel>Your orgs</DropdownLabel>
            {me?.memberships.map((m) => (
              <DropdownItem key={m.org.id} onSelect={() => navigate(`/orgs/${m.org.id}/overview`)}>
                {m.org.name} <span className="text-muted-fg">({m.role})</span>
              </DropdownItem>
            ))}
          </Dropdown>
          <span
            className="ml-1 text-xs text-muted-fg"
            title="The live connection to the org's stream"
            data-testid="stream-status"
          >
            {stream === "open" ? "● live" : stream === "unavailable" ? "" : "○ reconnecting"}
          </span>
          <div className="ml-auto flex items-center gap-2">
            <NotificationsBell org={org} />
            <Button
              variant="ghost"
              size="sm"
              aria-label={theme === "dark" ? "Use the light theme" : "Use the dark theme"}
              onClick={() => setTheme(theme === "dark" ? "light" : "dark")}
            >
              {theme === "dark" ? "☀" : "☾"}
            </Button>
            <Dropdown trigger={<Button variant="ghost" size="sm">{me?.user.display_name ?? "Account"}</Button>}>
              <DropdownLabel>{me?.user.email}</DropdownLabel>
              <DropdownItem
                onSelect={() => {
                  void logout().then(() => navigate("/login"));
                }}
              >
                Sign out
              </DropdownItem>
            </Dropdown>
          </div>
        </header>
        <main className="min-w-0 flex-1 p-4 md:p-6">{children}</main>
      </div>
    </div>
  );
}
