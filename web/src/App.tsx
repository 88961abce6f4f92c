// Routes: the login page, and the org's pages inside the layout, each org with its live stream.
import { Navigate, Route, Routes, useParams } from "react-router";
import { useAuth } from "./auth/AuthProvider";
import { Layout } from "./components/Layout";
import { Empty } from "./components/ui/card";
import { StreamProvider } from "./realtime/StreamProvider";
import { AcceptInvite } from "./pages/AcceptInvite";
import { Alerts } from "./pages/Alerts";
import { HostDetail } from "./pages/HostDetail";
import { Hosts } from "./pages/Hosts";
import { JobDetail } from "./pages/JobDetail";
import { Jobs, NewJob } from "./pages/Jobs";
import { Login } from "./pages/Login";
import { Overview } from "./pages/Overview";
import { Schedules } from "./pages/Schedules";
import { Settings } from "./pages/Settings";

export function App() {
  return (
    <Routes>
      <Route path="/login" element={<Login />} />
      <Route path="/invite" element={<AcceptInvite />} />
      <Route path="/orgs/:org/*" element={<RequireAuth><OrgPages /></RequireAuth>} />
      <Route path="*" element={<RequireAuth><FirstOrg /></RequireAuth>} />
    </Routes>
  );
}

function RequireAuth({ children }: { children: React.ReactNode }) {
  const { status } = useAuth();
  if (status === "loading") return <Empty>Loading…</Empty>;
  if (status === "anonymous") return <Navigate to="/login" replace />;
  return <>{children}</>;
}

function FirstOrg() {
  const { me } = useAuth();
  const first = me?.memberships[0];
  if (!first) return <Empty>You are not a member of any org yet. Ask an owner for an invite.</Empty>;
  return <Navigate to={`/orgs/${first.org.id}/overview`} replace />;
}

function OrgPages() {
  const { org = "" } = useParams();
  return (
    <StreamProvider key={org} org={org}>
      <Layout>
        <Routes>
          <Route path="overview" element={<Overview />} />
          <Route path="hosts" element={<Hosts />} />
          <Route path="hosts/:host" element={<HostDetail />} />
          <Route path="jobs" element={<Jobs />} />
          <Route path="jobs/new" element={<NewJob />} />
          <Route path="jobs/:job" element={<JobDetail />} />
          <Route path="schedules" element={<Schedules />} />
          <Route path="alerts" element={<Alerts />} />
          <Route path="settings" element={<Settings />} />
          <Route path="*" element={<Navigate to="overview" replace />} />
        </Routes>
      </Layout>
    </StreamProvider>
  );
}
