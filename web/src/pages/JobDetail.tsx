// One job: what it runs, where, its state and result, a cancel button while it can stop, and its
// output in the live log viewer.
import { Link, useParams } from "react-router";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { api, errorMessage, unwrap } from "../api/client";
import { isTerminal, useJob } from "../api/queries";
import { Button } from "../components/ui/button";
import { Badge, Card, CardTitle, Empty, ErrorNote, PageHeader } from "../components/ui/card";
import { LogViewer } from "../components/LogViewer";
import { useJobLogs } from "../lib/useJobLogs";
import { ago, jobTone, shortId } from "../lib/format";
import { describeJob } from "./Jobs";

export function JobDetail() {
  const { org = "", job: jobId = "" } = useParams();
  const queryClient = useQueryClient();
  const job = useJob(org, jobId);
  const logs = useJobLogs(org, jobId);
  const cancel = useMutation({
    mutationFn: async () =>
      unwrap(await api.POST("/api/v1/orgs/{org}/jobs/{job}/cancel", { params: { path: { org, job: jobId } } })),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: [org, "jobs"] }),
  });

  if (job.error) return <ErrorNote error={errorMessage(job.error)} />;
  const data = job.data;
  if (!data) return <Empty>Loading…</Empty>;
  const result = data.result;

  return (
    <>
      <PageHeader
        title={`Job ${shortId(data.id)}`}
        actions={
          !isTerminal(data.state) && (
            <Button variant="danger" onClick={() => cancel.mutate()} disabled={cancel.isPending}>
              Cancel
            </Button>
          )
        }
      />
      <ErrorNote error={cancel.error ? errorMessage(cancel.error) : null} />
      <Card className="mb-4">
        <CardTitle>Details</CardTitle>
        <dl className="grid grid-cols-[max-content_1fr] gap-x-4 gap-y-1 text-sm">
          <dt className="text-muted-fg">State</dt>
          <dd>
            <Badge tone={jobTone(data.state)}>
              <span data-testid="job-state">{data.state}</span>
            </Badge>
            {data.reason && <span className="ml-2 text-muted-fg">{data.reason}</span>}
          </dd>
          <dt className="text-muted-fg">Runs</dt>
          <dd className="font-mono text-xs break-all">{describeJob(data.kind)}</dd>
          <dt className="text-muted-fg">Host</dt>
          <dd>
            <Link className="text-primary underline" to={`/orgs/${org}/hosts/${data.host}`}>
              {shortId(data.host)}
            </Link>
          </dd>
          <dt className="text-muted-fg">Requested by</dt>
          <dd>
            {data.requested_by.kind} {data.requested_by.id}
          </dd>
          <dt className="text-muted-fg">Created</dt>
          <dd>{ago(data.created_at)}</dd>
          {result && (
            <>
              <dt className="text-muted-fg">Result</dt>
              <dd>
                {result.termination}
                {result.exit_code !== null && result.exit_code !== undefined ? `, exit code ${result.exit_code}` : ""}
                {result.signal ? `, signal ${result.signal}` : ""} in {(result.duration_ms / 1000).toFixed(1)} s
                {result.truncated ? " (output truncated)" : ""}
              </dd>
            </>
          )}
        </dl>
      </Card>
      <Card>
        <CardTitle>Output</CardTitle>
        <LogViewer buffer={logs.buffer} version={logs.version} status={logs.status} fileName={`job-${data.id}.log`} />
      </Card>
    </>
  );
}
