//! The autoscaler's decision: from one observation of the fleet (running sessions, current replicas,
//! worker heartbeats) and the recent history, how many worker replicas there should be and which
//! workers must drain first. Pure and deterministic — no I/O, time is passed in — so sequences of
//! observations can be tested directly.
//!
//! Rules:
//! - recommendation = ceil(sessions × (100 + headroom %) / 100 / target per worker), within min/max;
//! - scale-up is immediate;
//! - scale-down uses the highest recommendation of the last cooldown window (and only once this
//!   autoscaler has observed a whole window), so a brief dip never removes a worker (no flapping);
//! - scale-down drains first: the ordinals above the new count are marked draining, and the replica
//!   count drops only past workers that acknowledged the drain (`draining`) and hold no sessions, or
//!   that send no heartbeat at all (no worker process runs there). StatefulSets remove the highest
//!   ordinals first, so exactly the drained pods go;
//! - marks that are no longer needed (load came back, or the pod is gone) are cleared.

use std::collections::VecDeque;
use std::ops::Range;

/// The operator's scaling settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScalingPolicy {
    /// Sessions one worker should hold (above zero).
    pub target_sessions_per_worker: u64,
    pub min_replicas: u32,
    pub max_replicas: u32,
    /// Extra capacity provisioned on top of the sessions, in percent of them.
    pub headroom_percent: u32,
    /// How long the recommendation must stay low before any scale-down starts.
    pub scale_down_cooldown_ms: u64,
}

/// One worker's heartbeat, identified by its StatefulSet ordinal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerReport {
    pub ordinal: u32,
    pub sessions: u64,
    pub draining: bool,
}

/// What the autoscaler saw at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// Monotonic time of the observation, in milliseconds.
    pub at_ms: u64,
    /// Sessions whose desired state is running.
    pub running_sessions: u64,
    /// `spec.replicas` of the worker StatefulSet.
    pub current_replicas: u32,
    /// Live heartbeats (workers without one are absent).
    pub workers: Vec<WorkerReport>,
}

/// What to do after an observation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The recommendation for this observation alone.
    pub recommended: u32,
    /// The replica count being worked towards (after the scale-down window).
    pub goal: u32,
    /// Ordinals that must carry a drain mark; every other ordinal's mark is cleared.
    pub drain: Range<u32>,
    /// New `spec.replicas`, when it should change now.
    pub set_replicas: Option<u32>,
}

/// Recommendations of the current leadership term, for the scale-down window.
#[derive(Debug, Clone, Default)]
pub struct ScaleHistory {
    first_at_ms: Option<u64>,
    recent: VecDeque<(u64, u32)>,
}

impl ScaleHistory {
    /// Forget everything (leadership lost or regained: the window starts again).
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    fn record(&mut self, at_ms: u64, recommended: u32, window_ms: u64) {
        self.first_at_ms.get_or_insert(at_ms);
        self.recent.push_back((at_ms, recommended));
        let oldest_kept = at_ms.saturating_sub(window_ms);
        while self.recent.front().is_some_and(|&(t, _)| t < oldest_kept) {
            self.recent.pop_front();
        }
    }

    /// Highest recommendation over the window, once a whole window has been observed.
    fn window_max(&self, at_ms: u64, window_ms: u64) -> Option<u32> {
        let first = self.first_at_ms?;
        if at_ms.saturating_sub(first) < window_ms {
            return None;
        }
        self.recent.iter().map(|&(_, r)| r).max()
    }
}

impl ScalingPolicy {
    /// Replicas for a number of sessions, headroom included, within min/max.
    pub fn recommend(&self, running_sessions: u64) -> u32 {
        let target = u128::from(self.target_sessions_per_worker.max(1));
        let wanted = u128::from(running_sessions) * (100 + u128::from(self.headroom_percent));
        let needed = wanted.div_ceil(100 * target);
        let needed = u32::try_from(needed).unwrap_or(u32::MAX);
        needed.clamp(self.min_replicas, self.max_replicas.max(self.min_replicas))
    }

    /// Decide what to do after `observation`, recording it in `history`.
    pub fn decide(&self, history: &mut ScaleHistory, observation: &Observation) -> Decision {
        let recommended = self.recommend(observation.running_sessions);
        let now = observation.at_ms;
        history.record(now, recommended, self.scale_down_cooldown_ms);
        let current = observation.current_replicas;

        if recommended >= current {
            return Decision {
                recommended,
                goal: recommended,
                drain: 0..0,
                set_replicas: (recommended > current).then_some(recommended),
            };
        }

        let goal = history
            .window_max(now, self.scale_down_cooldown_ms)
            .map_or(current, |highest| highest.min(current));
        if goal >= current {
            return Decision {
                recommended,
                goal: current,
                drain: 0..0,
                set_replicas: None,
            };
        }

        let mut lowest_removable = current;
        while lowest_removable > goal && drained(observation, lowest_removable - 1) {
            lowest_removable -= 1;
        }
        Decision {
            recommended,
            goal,
            drain: goal..current,
            set_replicas: (lowest_removable < current).then_some(lowest_removable),
        }
    }
}

/// A worker may be removed when it acknowledged its drain and holds nothing, or sends no heartbeat.
fn drained(observation: &Observation, ordinal: u32) -> bool {
    match observation.workers.iter().find(|w| w.ordinal == ordinal) {
        None => true,
        Some(w) => w.draining && w.sessions == 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> ScalingPolicy {
        ScalingPolicy {
            target_sessions_per_worker: 100,
            min_replicas: 1,
            max_replicas: 10,
            headroom_percent: 0,
            scale_down_cooldown_ms: 1_000,
        }
    }

    fn worker(ordinal: u32, sessions: u64, draining: bool) -> WorkerReport {
        WorkerReport {
            ordinal,
            sessions,
            draining,
        }
    }

    fn busy(replicas: u32) -> Vec<WorkerReport> {
        (0..replicas).map(|o| worker(o, 50, false)).collect()
    }

    fn obs(at_ms: u64, sessions: u64, current: u32, workers: Vec<WorkerReport>) -> Observation {
        Observation {
            at_ms,
            running_sessions: sessions,
            current_replicas: current,
            workers,
        }
    }

    #[test]
    fn recommendation_is_the_ceiling_of_sessions_over_target() {
        let p = policy();
        assert_eq!(p.recommend(0), 1, "min replicas");
        assert_eq!(p.recommend(100), 1);
        assert_eq!(p.recommend(101), 2);
        assert_eq!(p.recommend(450), 5);
        assert_eq!(p.recommend(5_000), 10, "max replicas");
        assert_eq!(p.recommend(u64::MAX), 10, "no overflow");
    }

    #[test]
    fn headroom_adds_capacity_before_workers_are_full() {
        let p = ScalingPolicy {
            headroom_percent: 20,
            ..policy()
        };
        assert_eq!(p.recommend(80), 1, "96 sessions' worth fits one worker");
        assert_eq!(p.recommend(90), 2, "108 sessions' worth needs two");
        assert_eq!(p.recommend(100), 2);
    }

    #[test]
    fn zero_minimum_scales_an_idle_fleet_to_zero() {
        let p = ScalingPolicy {
            min_replicas: 0,
            ..policy()
        };
        let mut h = ScaleHistory::default();
        let d = p.decide(&mut h, &obs(0, 0, 1, vec![worker(0, 0, true)]));
        assert_eq!(d.set_replicas, None, "window not yet observed");
        let d = p.decide(&mut h, &obs(1_000, 0, 1, vec![worker(0, 0, true)]));
        assert_eq!(d.drain, 0..1);
        assert_eq!(d.set_replicas, Some(0));
    }

    #[test]
    fn scale_up_is_immediate_and_clears_drain_marks() {
        let p = policy();
        let mut h = ScaleHistory::default();
        let d = p.decide(&mut h, &obs(0, 350, 1, busy(1)));
        assert_eq!(d.set_replicas, Some(4));
        assert!(d.drain.is_empty());
        let d = p.decide(&mut h, &obs(100, 350, 4, busy(4)));
        assert_eq!(d.set_replicas, None, "steady once reached");
        assert!(d.drain.is_empty());
    }

    #[test]
    fn scale_down_waits_for_cooldown_then_drains_then_lowers_replicas() {
        let p = policy();
        let mut h = ScaleHistory::default();
        assert_eq!(
            p.decide(&mut h, &obs(0, 400, 4, busy(4))).set_replicas,
            None
        );
        // Load falls to two workers' worth: nothing happens inside the cooldown window.
        for t in [200, 500, 999] {
            let d = p.decide(&mut h, &obs(t, 150, 4, busy(4)));
            assert_eq!(d.recommended, 2);
            assert_eq!(d.set_replicas, None, "t={t}");
            assert!(d.drain.is_empty(), "t={t}");
        }
        // The 400-session observation left the window: drain ordinals 2 and 3, replicas unchanged.
        let d = p.decide(&mut h, &obs(1_201, 150, 4, busy(4)));
        assert_eq!(d.goal, 2);
        assert_eq!(d.drain, 2..4);
        assert_eq!(d.set_replicas, None, "workers still hold sessions");
        // Ordinal 3 emptied, ordinal 2 still handing over: drop only the top one.
        let workers = vec![
            worker(0, 75, false),
            worker(1, 70, false),
            worker(2, 5, true),
            worker(3, 0, true),
        ];
        let d = p.decide(&mut h, &obs(1_400, 150, 4, workers));
        assert_eq!(d.drain, 2..4);
        assert_eq!(d.set_replicas, Some(3));
        // Ordinal 2 emptied too.
        let workers = vec![
            worker(0, 75, false),
            worker(1, 75, false),
            worker(2, 0, true),
        ];
        let d = p.decide(&mut h, &obs(1_600, 150, 3, workers));
        assert_eq!(d.drain, 2..3);
        assert_eq!(d.set_replicas, Some(2));
        // Settled: no marks left, nothing to change.
        let d = p.decide(&mut h, &obs(1_800, 150, 2, busy(2)));
        assert!(d.drain.is_empty());
        assert_eq!(d.set_replicas, None);
    }

    #[test]
    fn an_empty_worker_that_has_not_acknowledged_the_drain_stays() {
        let p = policy();
        let mut h = ScaleHistory::default();
        p.decide(&mut h, &obs(0, 100, 2, busy(2)));
        let workers = vec![worker(0, 100, false), worker(1, 0, false)];
        let d = p.decide(&mut h, &obs(1_000, 100, 2, workers));
        assert_eq!(d.drain, 1..2);
        assert_eq!(d.set_replicas, None, "it could still take a session");
    }

    #[test]
    fn a_pod_without_heartbeat_holds_nothing_and_may_go() {
        let p = policy();
        let mut h = ScaleHistory::default();
        p.decide(&mut h, &obs(0, 100, 3, busy(1)));
        let d = p.decide(&mut h, &obs(1_000, 100, 3, vec![worker(0, 100, false)]));
        assert_eq!(d.drain, 1..3);
        assert_eq!(d.set_replicas, Some(1));
    }

    #[test]
    fn oscillating_load_scales_up_once_and_never_flaps_down() {
        let p = policy();
        let mut h = ScaleHistory::default();
        let mut current = 2;
        let mut changes = Vec::new();
        // Load alternates between 2 and 3 workers' worth every 300 ms for 5 s.
        for step in 0..17u64 {
            let sessions = if step % 2 == 0 { 190 } else { 210 };
            let d = p.decide(&mut h, &obs(step * 300, sessions, current, busy(current)));
            assert!(
                d.drain.is_empty(),
                "step {step}: no drain while load recurs"
            );
            if let Some(r) = d.set_replicas {
                changes.push(r);
                current = r;
            }
        }
        assert_eq!(changes, vec![3]);
    }

    #[test]
    fn returning_load_cancels_a_drain() {
        let p = policy();
        let mut h = ScaleHistory::default();
        p.decide(&mut h, &obs(0, 300, 3, busy(3)));
        let d = p.decide(&mut h, &obs(1_100, 100, 3, busy(3)));
        assert_eq!(d.drain, 1..3);
        let d = p.decide(&mut h, &obs(1_200, 280, 3, busy(3)));
        assert!(d.drain.is_empty(), "marks cleared when load returns");
        assert_eq!(d.set_replicas, None);
        // The window now holds the 3-worker recommendation again: no drain until it ages out.
        let d = p.decide(&mut h, &obs(1_300, 100, 3, busy(3)));
        assert!(d.drain.is_empty());
        let d = p.decide(&mut h, &obs(2_201, 100, 3, busy(3)));
        assert_eq!(d.drain, 1..3);
    }

    #[test]
    fn partial_return_shrinks_the_drain() {
        let p = policy();
        let mut h = ScaleHistory::default();
        p.decide(&mut h, &obs(0, 100, 4, busy(4)));
        let d = p.decide(&mut h, &obs(1_000, 100, 4, busy(4)));
        assert_eq!(d.drain, 1..4);
        let d = p.decide(&mut h, &obs(1_100, 250, 4, busy(4)));
        assert_eq!(d.goal, 3);
        assert_eq!(d.drain, 3..4, "ordinals 1 and 2 are needed again");
    }

    #[test]
    fn a_new_leadership_term_observes_a_whole_window_before_scaling_down() {
        let p = policy();
        let mut h = ScaleHistory::default();
        p.decide(&mut h, &obs(0, 100, 3, busy(3)));
        h.reset();
        let d = p.decide(&mut h, &obs(5_000, 100, 3, busy(3)));
        assert!(d.drain.is_empty());
        let d = p.decide(&mut h, &obs(6_000, 100, 3, busy(3)));
        assert_eq!(d.drain, 1..3);
    }

    #[test]
    fn replicas_above_the_maximum_are_drained_down_to_it() {
        let p = ScalingPolicy {
            max_replicas: 2,
            ..policy()
        };
        let mut h = ScaleHistory::default();
        p.decide(&mut h, &obs(0, 1_000, 4, busy(4)));
        let d = p.decide(&mut h, &obs(1_000, 1_000, 4, busy(2)));
        assert_eq!(d.drain, 2..4);
        assert_eq!(d.set_replicas, Some(2));
    }
}
