//! What the server counts, served as Prometheus text on the admin port
//! (`GET /metrics`, behind the admin token like every admin route). Built
//! on `prometheus-client`; every name starts with `turso_server_`.
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `children_running` | gauge | |
//! | `namespaces_registered` | gauge | |
//! | `children_started_total` | counter | |
//! | `children_stopped_total` | counter | `reason`: idle, evicted, deleted, unresponsive |
//! | `children_crashed_total` | counter | |
//! | `requests_total` | counter | `route`: pipeline, pull, other; `status`: 2xx … 5xx |
//! | `upstream_duration_seconds` | histogram | `route` |
//! | `cold_start_duration_seconds` | histogram (its `_count` is the cold starts) | |
//! | `gc_archived_total` | counter | `reason`: idle, expired |
//! | `gc_purged_total` | counter | |
//! | `backups_total` | counter | `outcome`: ok, error |
//! | `registry_flush_duration_seconds` | histogram | |

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// The kind of a proxied request, from its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// `/v2/pipeline` (SQL).
    Pipeline,
    /// `/pull-updates` and other pulls.
    Pull,
    /// Anything else (push of pages, info, …).
    Other,
}

impl Route {
    /// The route kind of the path forwarded to a child.
    pub(crate) fn of(rest: &str) -> Self {
        let lower = rest.to_ascii_lowercase();
        if lower.contains("pipeline") {
            Self::Pipeline
        } else if lower.contains("pull") {
            Self::Pull
        } else {
            Self::Other
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Pipeline => "pipeline",
            Self::Pull => "pull",
            Self::Other => "other",
        }
    }
}

/// Why a child was stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopReason {
    /// No request for `TURSO_CHILD_IDLE_TIMEOUT`.
    Idle,
    /// Made room for another child at `TURSO_MAX_CHILDREN`.
    Evicted,
    /// Its namespace was deleted or collected.
    Deleted,
    /// It stopped answering.
    Unresponsive,
}

impl StopReason {
    fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Evicted => "evicted",
            Self::Deleted => "deleted",
            Self::Unresponsive => "unresponsive",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    route: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    status: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 100 µs … ~26 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 19))
}

/// The server's counters, gauges and histograms.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    children_running: Gauge,
    namespaces_registered: Gauge,
    children_started: Counter,
    children_stopped: Family<ReasonLabel, Counter>,
    children_crashed: Counter,
    requests: Family<RequestLabels, Counter>,
    upstream: HistogramFamily<RouteLabel>,
    cold_start: Histogram,
    gc_archived: Family<ReasonLabel, Counter>,
    gc_purged: Counter,
    backups: Family<OutcomeLabel, Counter>,
    registry_flush: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every metric at zero.
    pub(crate) fn new() -> Self {
        let mut root = Registry::with_prefix("turso_server");
        let children_running = Gauge::default();
        let namespaces_registered = Gauge::default();
        let children_started = Counter::default();
        let children_stopped = Family::<ReasonLabel, Counter>::default();
        let children_crashed = Counter::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let upstream = HistogramFamily::<RouteLabel>::new_with_constructor(latency_histogram);
        let cold_start = latency_histogram();
        let gc_archived = Family::<ReasonLabel, Counter>::default();
        let gc_purged = Counter::default();
        let backups = Family::<OutcomeLabel, Counter>::default();
        let registry_flush = latency_histogram();
        root.register(
            "children_running",
            "tursodb children running now",
            children_running.clone(),
        );
        root.register(
            "namespaces_registered",
            "Namespaces in the registry",
            namespaces_registered.clone(),
        );
        root.register(
            "children_started",
            "tursodb children started",
            children_started.clone(),
        );
        root.register(
            "children_stopped",
            "tursodb children stopped by the server, by reason",
            children_stopped.clone(),
        );
        root.register(
            "children_crashed",
            "tursodb children that exited on their own",
            children_crashed.clone(),
        );
        root.register(
            "requests",
            "Data-port requests for a namespace, by route kind and status class",
            requests.clone(),
        );
        root.register(
            "upstream_duration_seconds",
            "Time from sending a request to a child to its answer's headers",
            upstream.clone(),
        );
        root.register(
            "cold_start_duration_seconds",
            "Starts of a stopped namespace's child for a request, and their duration",
            cold_start.clone(),
        );
        root.register(
            "gc_archived",
            "Namespaces archived by GC, by reason",
            gc_archived.clone(),
        );
        root.register(
            "gc_purged",
            "Archive entries removed by GC",
            gc_purged.clone(),
        );
        root.register("backups", "Hot backups, by outcome", backups.clone());
        root.register(
            "registry_flush_duration_seconds",
            "Time to write the registry's access times",
            registry_flush.clone(),
        );
        Self {
            registry: root,
            children_running,
            namespaces_registered,
            children_started,
            children_stopped,
            children_crashed,
            requests,
            upstream,
            cold_start,
            gc_archived,
            gc_purged,
            backups,
            registry_flush,
        }
    }

    /// A child was started.
    pub(crate) fn child_started(&self) {
        self.children_started.inc();
    }

    /// A child was stopped by the server.
    pub(crate) fn child_stopped(&self, reason: StopReason) {
        self.children_stopped
            .get_or_create(&ReasonLabel {
                reason: reason.as_str(),
            })
            .inc();
    }

    /// A child exited on its own.
    pub(crate) fn child_crashed(&self) {
        self.children_crashed.inc();
    }

    /// A data request for a namespace was answered with `status`.
    pub(crate) fn request(&self, route: Route, status: u16) {
        let status = match status {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        self.requests
            .get_or_create(&RequestLabels {
                route: route.as_str(),
                status,
            })
            .inc();
    }

    /// A child answered a request's headers after `took`.
    pub(crate) fn upstream(&self, route: Route, took: Duration) {
        self.upstream
            .get_or_create(&RouteLabel {
                route: route.as_str(),
            })
            .observe(took.as_secs_f64());
    }

    /// A request started a stopped namespace's child, in `took`.
    pub(crate) fn cold_start(&self, took: Duration) {
        self.cold_start.observe(took.as_secs_f64());
    }

    /// GC archived a namespace (`expired` TTL, else idle).
    pub(crate) fn gc_archived(&self, expired: bool) {
        let reason = if expired { "expired" } else { "idle" };
        self.gc_archived
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }

    /// GC removed `count` archive entries.
    pub(crate) fn gc_purged(&self, count: usize) {
        self.gc_purged.inc_by(count as u64);
    }

    /// A hot backup finished.
    pub(crate) fn backup(&self, ok: bool) {
        let outcome = if ok { "ok" } else { "error" };
        self.backups.get_or_create(&OutcomeLabel { outcome }).inc();
    }

    /// The registry's access times were written in `took`.
    pub(crate) fn registry_flushed(&self, took: Duration) {
        self.registry_flush.observe(took.as_secs_f64());
    }

    /// The Prometheus text exposition, with the gauges set to `running`
    /// children and `registered` namespaces.
    pub(crate) fn render(&self, running: usize, registered: usize) -> String {
        self.children_running
            .set(i64::try_from(running).unwrap_or(i64::MAX));
        self.namespaces_registered
            .set(i64::try_from(registered).unwrap_or(i64::MAX));
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_carries_every_metric_with_its_labels() {
        let m = Metrics::new();
        m.child_started();
        m.child_stopped(StopReason::Evicted);
        m.request(Route::of("/v2/pipeline"), 200);
        m.request(Route::of("/pull-updates"), 503);
        m.upstream(Route::Pipeline, Duration::from_millis(3));
        m.cold_start(Duration::from_millis(40));
        m.gc_archived(true);
        m.gc_purged(2);
        m.backup(true);
        m.registry_flushed(Duration::from_millis(1));
        let text = m.render(3, 7);
        for line in [
            "turso_server_children_running 3",
            "turso_server_namespaces_registered 7",
            "turso_server_children_started_total 1",
            "turso_server_children_stopped_total{reason=\"evicted\"} 1",
            "turso_server_requests_total{route=\"pipeline\",status=\"2xx\"} 1",
            "turso_server_requests_total{route=\"pull\",status=\"5xx\"} 1",
            "turso_server_upstream_duration_seconds_count{route=\"pipeline\"} 1",
            "turso_server_cold_start_duration_seconds_count 1",
            "turso_server_gc_archived_total{reason=\"expired\"} 1",
            "turso_server_gc_purged_total 2",
            "turso_server_backups_total{outcome=\"ok\"} 1",
            "turso_server_registry_flush_duration_seconds_count 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from:\n{text}"
            );
        }
    }
}
