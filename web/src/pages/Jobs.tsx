// Jobs: the list with filters (host, state, creation time) and the create form (a command, offered from the
// host's allowed programs, or a game action on one of its game servers).
import { useEffect, useState, type FormEvent } from "react";
import { Link, useNavigate, useParams, useSearchParams } from "react-router";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, errorMessage, unwrap, type JobState, type Schemas } from "../api/client";
import { isJobPeriod, JOB_PERIODS, useHosts, useJobs } from "../api/queries";
import { ProgramPicker } from "../components/ProgramPicker";
import { Button } from "../components/ui/button";
import { Badge, Card, Empty, ErrorNote, PageHeader, Table, Td, Th } from "../components/ui/card";
import { Input, Label, Select } from "../components/ui/input";
import { ago, jobTone, shortId } from "../lib/format";

const STATES: JobState[] = ["queued", "dispatched", "running", "succeeded", "failed", "timed_out", "cancelled", "lost", "rejected"];

export function describeJob(kind: Schemas["JobKind"]): string {
  return kind.type === "command" ? [kind.program, ...kind.args].join(" ") : `${kind.game}: ${kind.action}`;
}

export function Jobs() {
  const { org = "" } = useParams();
  const [params, setParams] = useSearchParams();
  const host = params.get("host") ?? "";
  const state = (params.get("state") ?? "") as JobState | "";
  const periodParam = params.get("period");
  const period = isJobPeriod(periodParam) ? periodParam : undefined;
  const hosts = useHosts(org);
  const jobs = useJobs(org, { host: host || undefined, state: state || undefined, period }, 100);
  const names = new Map((hosts.data ?? []).map((h) => [h.id, h.name]));
  const set = (key: string, value: string) => {
    const next = new URLSearchParams(params);
    if (value) next.set(key, value);
    else next.delete(key);
    setParams(next);
  };

  return (
    <>
      <PageHeader
        title="Jobs"
        actions={
          <Link to={`/orgs/${org}/jobs/new`} className="inline-flex h-10 items-center rounded-md bg-primary px-4 text-sm font-medium text-primary-fg">
            New job
          </Link>
        }
      />
      <Card>
        <div className="mb-3 flex flex-wrap gap-3">
          <div className="w-48">
            <Label htmlFor="job-host">Host</Label>
            <Select id="job-host" value={host} onChange={(e) => set("host", e.target.value)}>
              <option value="">Any host</option>
              {(hosts.data ?? []).map((h) => (
                <option key={h.id} value={h.id}>
                  {h.name}
                </option>
              ))}
            </Select>
          </div>
          <div className="w-48">
            <Label htmlFor="job-state">State</Label>
            <Select id="job-state" value={state} onChange={(e) => set("state", e.target.value)}>
              <option value="">Any state</option>
              {STATES.map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </Select>
          </div>
          <div className="w-48">
            <Label htmlFor="job-period">Created</Label>
            <Select id="job-period" value={period ?? ""} onChange={(e) => set("period", e.target.value)}>
              <option value="">Any time</option>
              {Object.entries(JOB_PERIODS).map(([key, { label }]) => (
                <option key={key} value={key}>
                  {label}
                </option>
              ))}
            </Select>
          </div>
        </div>
        <ErrorNote error={jobs.error ? errorMessage(jobs.error) : null} />
        {jobs.data?.length ? (
          <Table data-testid="jobs-table">
            <thead>
              <tr>
                <Th>Job</Th>
                <Th>Host</Th>
                <Th>What</Th>
                <Th>State</Th>
                <Th>By</Th>
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
                  <Td>{names.get(job.host) ?? shortId(job.host)}</Td>
                  <Td className="max-w-72 truncate font-mono text-xs">{describeJob(job.kind)}</Td>
                  <Td>
                    <Badge tone={jobTone(job.state)}>{job.state}</Badge>
                  </Td>
                  <Td className="text-muted-fg">{job.requested_by.kind}</Td>
                  <Td>{ago(job.created_at)}</Td>
                </tr>
              ))}
            </tbody>
          </Table>
        ) : (
          <Empty>{jobs.isLoading ? "Loading…" : "No jobs match."}</Empty>
        )}
      </Card>
    </>
  );
}

const GAME_ACTIONS = ["say", "command", "kick", "ban", "save", "shutdown", "restart"] as const;

/** The JSON args of a game action from the form's one text field. */
export function gameArgs(action: string, text: string): Record<string, unknown> {
  switch (action) {
    case "say":
      return { message: text };
    case "command":
      return { command: text };
    case "kick":
    case "ban":
      return { player: text };
    default:
      return {};
  }
}

/** The game servers a game job may name: the host's configured ones, else those it reports. */
export function gameChoices(
  configured: { name: string; game: string }[],
  reported: { instance: string; game: string }[],
): { name: string; game: string }[] {
  if (configured.length) return configured.map((g) => ({ name: g.name, game: g.game }));
  if (reported.length) return reported.map((g) => ({ name: g.instance || "main", game: g.game }));
  return [{ name: "main", game: "not configured" }];
}

export function NewJob() {
  const { org = "" } = useParams();
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const hosts = useHosts(org);
  const [host, setHost] = useState(params.get("host") ?? "");
  const [type, setType] = useState<"command" | "game">("command");
  const [program, setProgram] = useState("");
  const [args, setArgs] = useState("");
  const [game, setGame] = useState("main");
  const [action, setAction] = useState<string>("say");
  const [text, setText] = useState("");
  const [timeout, setTimeoutSecs] = useState("");
  // The host's detail carries its allowed programs; its configured game servers come from
  // `…/games` (what its heartbeat reports is the fallback for a host configured elsewhere).
  const detail = useQuery({
    queryKey: [org, "hosts", "detail", host],
    queryFn: async () => unwrap(await api.GET("/api/v1/orgs/{org}/hosts/{host}", { params: { path: { org, host } } })),
    enabled: host !== "",
  });
  const configured = useQuery({
    queryKey: [org, "hosts", "games", host],
    queryFn: async () =>
      unwrap(await api.GET("/api/v1/orgs/{org}/hosts/{host}/games", { params: { path: { org, host } } })).items,
    enabled: host !== "",
  });
  const gameServers = gameChoices(configured.data ?? [], detail.data?.last_heartbeat?.games ?? []);
  const firstGame = gameServers[0]?.name ?? "main";
  useEffect(() => {
    if (!gameServers.some((server) => server.name === game)) setGame(firstGame);
  }, [firstGame, game, gameServers]);

  const create = useMutation({
    mutationFn: async (body: Schemas["CreateJob"]) =>
      unwrap(await api.POST("/api/v1/orgs/{org}/jobs", { params: { path: { org } }, body })),
    onSuccess: (job) => {
      void queryClient.invalidateQueries({ queryKey: [org, "jobs"] });
      navigate(`/orgs/${org}/jobs/${job.id}`);
    },
  });

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const kind: Schemas["JobKind"] =
      type === "command"
        ? { type: "command", program, args: args.split("\n").filter((a) => a !== ""), env: {} }
        : { type: "game", game, action, args: gameArgs(action, text) };
    create.mutate({ host, kind, timeout_secs: timeout ? Number(timeout) : undefined });
  };

  return (
    <>
      <PageHeader title="New job" />
      <Card className="max-w-2xl">
        <form onSubmit={submit} className="flex flex-col gap-3">
          <div>
            <Label htmlFor="new-job-host">Host</Label>
            <Select id="new-job-host" required value={host} onChange={(e) => setHost(e.target.value)}>
              <option value="">Choose a host</option>
              {(hosts.data ?? []).map((h) => (
                <option key={h.id} value={h.id}>
                  {h.name} {h.presence ? `(${h.presence})` : ""}
                </option>
              ))}
            </Select>
          </div>
          <fieldset className="flex gap-4 text-sm">
            <legend className="mb-1 text-sm font-medium">Kind</legend>
            <label className="flex items-center gap-1">
              <input type="radio" name="kind" checked={type === "command"} onChange={() => setType("command")} /> Command
            </label>
            <label className="flex items-center gap-1">
              <input type="radio" name="kind" checked={type === "game"} onChange={() => setType("game")} /> Game action
            </label>
          </fieldset>
          {type === "command" ? (
            <ProgramPicker
              key={host}
              allowed={detail.data?.allowed_programs ?? []}
              program={program}
              args={args}
              onChange={(nextProgram, nextArgs) => {
                setProgram(nextProgram);
                setArgs(nextArgs);
              }}
            />
          ) : (
            <>
              <div>
                <Label htmlFor="new-job-game">Game server</Label>
                <Select id="new-job-game" value={game} onChange={(e) => setGame(e.target.value)}>
                  {gameServers.map((server) => (
                    <option key={server.name} value={server.name}>
                      {server.name} ({server.game})
                    </option>
                  ))}
                </Select>
              </div>
              <div>
                <Label htmlFor="new-job-action">Action</Label>
                <Select id="new-job-action" value={action} onChange={(e) => setAction(e.target.value)}>
                  {GAME_ACTIONS.map((a) => (
                    <option key={a} value={a}>
                      {a}
                    </option>
                  ))}
                </Select>
              </div>
              {["say", "command", "kick", "ban"].includes(action) && (
                <div>
                  <Label htmlFor="new-job-text">{action === "say" ? "Message" : action === "command" ? "Console command" : "Player"}</Label>
                  <Input id="new-job-text" required value={text} onChange={(e) => setText(e.target.value)} />
                </div>
              )}
            </>
          )}
          <div className="w-48">
            <Label htmlFor="new-job-timeout">Timeout in seconds (optional)</Label>
            <Input id="new-job-timeout" type="number" min={1} value={timeout} onChange={(e) => setTimeoutSecs(e.target.value)} />
          </div>
          <ErrorNote error={create.error ? errorMessage(create.error) : null} />
          <Button type="submit" disabled={create.isPending}>
            Run the job
          </Button>
        </form>
      </Card>
    </>
  );
}
