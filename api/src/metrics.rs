//! Prometheus metrics of this pod: requests by route and status, request latency histograms by
//! route, and commands written by kind. Rendered as text on `GET /metrics`.

use std::{
    collections::BTreeMap,
    fmt::Write,
    sync::Mutex,
    time::{Duration, Instant},
};

use axum::{
    extract::{MatchedPath, Request, State},
    middleware::Next,
    response::Response,
};

use crate::state::AppState;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 10.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    total: u64,
}

impl Histogram {
    fn observe(&mut self, secs: f64) {
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                self.counts[i] += 1;
            }
        }
        self.sum += secs;
        self.total += 1;
    }
}

#[derive(Default)]
struct Inner {
    requests: BTreeMap<(String, String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
    commands: BTreeMap<&'static str, u64>,
}

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    pub fn record_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        *inner
            .requests
            .entry((method.to_owned(), route.to_owned(), status))
            .or_default() += 1;
        inner
            .latency
            .entry(route.to_owned())
            .or_default()
            .observe(elapsed.as_secs_f64());
    }

    pub fn record_command(&self, kind: &'static str) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        *inner.commands.entry(kind).or_default() += 1;
    }

    /// The Prometheus text exposition; the WebSocket figures are read by the caller from the hub.
    pub fn render(&self, websocket_clients: usize, websocket_slow_closes: u64) -> String {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::new();
        out.push_str("# HELP wa_api_requests_total HTTP requests by route and status.\n");
        out.push_str("# TYPE wa_api_requests_total counter\n");
        for ((method, route, status), n) in &inner.requests {
            let _ = writeln!(
                out,
                "wa_api_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        out.push_str("# HELP wa_api_request_duration_seconds HTTP request latency by route.\n");
        out.push_str("# TYPE wa_api_request_duration_seconds histogram\n");
        for (route, h) in &inner.latency {
            for (bound, count) in BUCKETS.iter().zip(h.counts) {
                let _ = writeln!(
                    out,
                    "wa_api_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "wa_api_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                h.total
            );
            let _ = writeln!(
                out,
                "wa_api_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "wa_api_request_duration_seconds_count{{route=\"{route}\"}} {}",
                h.total
            );
        }
        out.push_str("# HELP wa_api_commands_written_total Commands written to session streams.\n");
        out.push_str("# TYPE wa_api_commands_written_total counter\n");
        for (kind, n) in &inner.commands {
            let _ = writeln!(out, "wa_api_commands_written_total{{kind=\"{kind}\"}} {n}");
        }
        out.push_str("# HELP wa_api_websocket_clients Open WebSocket connections on this pod.\n");
        out.push_str("# TYPE wa_api_websocket_clients gauge\n");
        let _ = writeln!(out, "wa_api_websocket_clients {websocket_clients}");
        out.push_str(
            "# HELP wa_api_websocket_slow_closes_total Sockets closed for not keeping up.\n",
        );
        out.push_str("# TYPE wa_api_websocket_slow_closes_total counter\n");
        let _ = writeln!(
            out,
            "wa_api_websocket_slow_closes_total {websocket_slow_closes}"
        );
        out
    }
}

/// Middleware recording each request under its route template (never the raw path, so session ids
/// do not explode the label set).
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let response = next.run(request).await;
    state.metrics.record_request(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let m = Metrics::default();
        m.record_request("GET", "/health", 200, Duration::from_micros(300));
        m.record_command("send");
        let text = m.render(2, 0);
        assert!(
            text.contains(
                "wa_api_requests_total{method=\"GET\",route=\"/health\",status=\"200\"} 1"
            )
        );
        assert!(
            text.contains(
                "wa_api_request_duration_seconds_bucket{route=\"/health\",le=\"0.0005\"} 1"
            )
        );
        assert!(text.contains("wa_api_commands_written_total{kind=\"send\"} 1"));
        assert!(text.contains("wa_api_websocket_clients 2"));
    }
}
