//! Prometheus metrics, served at `/metrics` in the text exposition format.
//!
//! Labels are low-cardinality only (a job state, never a host or job id). Jobs by state are read
//! from the store at scrape time, so the figure is right across server replicas.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The label of the jobs-by-state gauge.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabel {
    /// A job state (`queued`, `running`, ...).
    pub state: String,
}

/// Every metric the server exports.
pub struct Metrics {
    registry: Registry,
    /// Agents connected to this server process.
    pub connected_agents: Gauge,
    /// Heartbeats received (rate it for heartbeats per second).
    pub heartbeats: Counter,
    /// Frames from agents refused by the decoder or the gateway's checks.
    pub protocol_errors: Counter,
    /// Time from a job's creation to its agent accepting it.
    pub dispatch_latency: Histogram,
    /// Jobs by state, refreshed from the store on each scrape.
    pub jobs: Family<StateLabel, Gauge>,
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("gsm");
        let connected_agents = Gauge::default();
        registry.register(
            "connected_agents",
            "Agents connected to this server",
            connected_agents.clone(),
        );
        let heartbeats = Counter::default();
        registry.register("heartbeats", "Heartbeats received", heartbeats.clone());
        let protocol_errors = Counter::default();
        registry.register("agent_protocol_errors", "Agent frames refused", protocol_errors.clone());
        let buckets = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];
        let dispatch_latency = Histogram::new(buckets);
        registry.register(
            "dispatch_latency_seconds",
            "Time from job creation to the agent accepting it",
            dispatch_latency.clone(),
        );
        let jobs = Family::<StateLabel, Gauge>::default();
        registry.register("jobs", "Jobs by state", jobs.clone());
        Self { registry, connected_agents, heartbeats, protocol_errors, dispatch_latency, jobs }
    }

    /// The exposition text.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
