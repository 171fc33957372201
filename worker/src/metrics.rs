//! Counters of one worker, rendered as Prometheus text on `/metrics`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
pub struct WorkerMetrics {
    pub claims: AtomicU64,
    pub leases_lost: AtomicU64,
    pub releases: AtomicU64,
    pub commands: AtomicU64,
    pub messages_sent: AtomicU64,
    pub messages_failed: AtomicU64,
    pub messages_received: AtomicU64,
    pub orphans_requeued: AtomicU64,
    pub doorbells: AtomicU64,
    pub commands_by_sweep: AtomicU64,
}

/// A point-in-time view the renderer adds to the counters.
pub struct Gauges {
    pub sessions: usize,
    pub connected: usize,
    pub capacity: usize,
    pub draining: bool,
}

impl WorkerMetrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::new();
        let counters: [(&str, &str, &AtomicU64); 10] = [
            ("wa_worker_claims_total", "Sessions claimed", &self.claims),
            (
                "wa_worker_leases_lost_total",
                "Leases lost (renewal refused or late)",
                &self.leases_lost,
            ),
            (
                "wa_worker_releases_total",
                "Sessions released to the fleet",
                &self.releases,
            ),
            (
                "wa_worker_commands_total",
                "Commands executed",
                &self.commands,
            ),
            (
                "wa_worker_messages_sent_total",
                "Outbound messages sent",
                &self.messages_sent,
            ),
            (
                "wa_worker_messages_failed_total",
                "Outbound messages failed",
                &self.messages_failed,
            ),
            (
                "wa_worker_messages_received_total",
                "Inbound messages published",
                &self.messages_received,
            ),
            (
                "wa_worker_orphans_requeued_total",
                "Orphaned sessions re-queued",
                &self.orphans_requeued,
            ),
            (
                "wa_worker_doorbells_total",
                "Doorbells read from this worker's inbox",
                &self.doorbells,
            ),
            (
                "wa_worker_commands_by_sweep_total",
                "Commands picked up by the periodic sweep of owned streams rather than by a doorbell",
                &self.commands_by_sweep,
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            let _ = writeln!(out, "{name} {}", value.load(Ordering::Relaxed));
        }
        let gauges: [(&str, &str, u64); 4] = [
            (
                "wa_worker_sessions",
                "Sessions held",
                gauges.sessions as u64,
            ),
            (
                "wa_worker_sessions_connected",
                "Sessions connected to WhatsApp",
                gauges.connected as u64,
            ),
            (
                "wa_worker_capacity",
                "Most sessions this worker takes",
                gauges.capacity as u64,
            ),
            (
                "wa_worker_draining",
                "1 while the worker hands its sessions over",
                u64::from(gauges.draining),
            ),
        ];
        for (name, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
        out
    }
}
