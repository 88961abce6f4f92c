// The queries the pages share, keyed by org first so an org switch or a stream frame can mark a
// whole org's data stale at once.
import { useQuery } from "@tanstack/react-query";
import { api, unwrap, type Host, type Job, type JobState } from "./client";

export function useHosts(org: string) {
  return useQuery({
    queryKey: [org, "hosts", "list"],
    queryFn: async (): Promise<Host[]> => {
      const items: Host[] = [];
      let cursor: string | undefined;
      // Every host, page by page (500 per page); fleets of thousands stay a handful of requests.
      for (;;) {
        const page = unwrap(
          await api.GET("/api/v1/orgs/{org}/hosts", { params: { path: { org }, query: { limit: 500, cursor } } }),
        );
        items.push(...page.items);
        if (!page.next_cursor) return items;
        cursor = page.next_cursor;
      }
    },
    refetchInterval: 15_000,
  });
}

export function useHost(org: string, host: string) {
  return useQuery({
    queryKey: [org, "hosts", "detail", host],
    queryFn: async () => unwrap(await api.GET("/api/v1/orgs/{org}/hosts/{host}", { params: { path: { org, host } } })),
    refetchInterval: 10_000,
  });
}

/** How far back the jobs list looks; `since` is computed when the list is fetched. */
export const JOB_PERIODS = {
  "1h": { label: "Last hour", ms: 3600_000 },
  "24h": { label: "Last day", ms: 24 * 3600_000 },
  "7d": { label: "Last week", ms: 7 * 24 * 3600_000 },
} as const;

export type JobPeriod = keyof typeof JOB_PERIODS;

export function isJobPeriod(value: string | null): value is JobPeriod {
  return value !== null && Object.hasOwn(JOB_PERIODS, value);
}

export interface JobFilter {
  host?: string;
  state?: JobState;
  period?: JobPeriod;
}

/** The query of `GET …/jobs` for a filter at time `now`. */
export function jobsQuery(filter: JobFilter, limit: number, now: number) {
  const { period, ...rest } = filter;
  const since = period ? new Date(now - JOB_PERIODS[period].ms).toISOString() : undefined;
  return { ...rest, since, limit };
}

export function useJobs(org: string, filter: JobFilter = {}, limit = 50) {
  return useQuery({
    queryKey: [org, "jobs", "list", filter, limit],
    queryFn: async (): Promise<Job[]> =>
      unwrap(
        await api.GET("/api/v1/orgs/{org}/jobs", {
          params: { path: { org }, query: jobsQuery(filter, limit, Date.now()) },
        }),
      ).items,
    refetchInterval: 15_000,
  });
}

export function useJob(org: string, job: string) {
  return useQuery({
    queryKey: [org, "jobs", "detail", job],
    queryFn: async () => unwrap(await api.GET("/api/v1/orgs/{org}/jobs/{job}", { params: { path: { org, job } } })),
    refetchInterval: (query) => (query.state.data && isTerminal(query.state.data.state) ? false : 3_000),
  });
}

export function isTerminal(state: string): boolean {
  return ["succeeded", "failed", "timed_out", "cancelled", "lost", "rejected"].includes(state);
}
