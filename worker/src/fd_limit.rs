//! The open-file limit a worker needs. Each session holds one WhatsApp WebSocket (a second one for a
//! moment while it reconnects); under a limit too low for `WORKER_CAPACITY`, the sessions past it
//! fail to connect and the worker wedges there (a default soft limit of 1024 is common). At start
//! the soft limit is raised as far as the hard limit allows; when even that is too low, the worker
//! lowers its capacity to what fits and says so, so the rest of the fleet takes the other sessions.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Descriptors counted per session (its socket, and the next one while it reconnects).
pub const PER_SESSION: u64 = 2;
/// Descriptors for everything else: Redis connections, the HTTP listener and its clients, logs.
pub const BASE: u64 = 256;

/// Descriptors a worker of `capacity` sessions needs.
pub fn needed(capacity: usize) -> u64 {
    BASE + PER_SESSION * capacity as u64
}

/// Sessions that fit under an open-file limit of `limit`.
pub fn sessions_within(limit: u64) -> usize {
    (limit.saturating_sub(BASE) / PER_SESSION) as usize
}

/// Raises the soft open-file limit toward what `capacity` needs (up to the hard limit) and returns
/// the capacity that fits under the limit in force.
pub fn fit_capacity(capacity: usize) -> usize {
    let want = needed(capacity);
    let limits = getrlimit(Resource::Nofile);
    // `None` means unlimited.
    let soft = limits.current.unwrap_or(u64::MAX);
    let hard = limits.maximum.unwrap_or(u64::MAX);
    let mut in_force = soft;
    if soft < want {
        let target = want.min(hard);
        let raised = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(target),
                maximum: limits.maximum,
            },
        );
        match raised {
            Ok(()) => {
                tracing::info!(from = soft, to = target, "raised the open-file limit");
                in_force = target;
            }
            Err(error) => {
                tracing::warn!(%error, soft, "could not raise the open-file limit");
            }
        }
    }
    let fits = sessions_within(in_force);
    if fits < capacity {
        tracing::warn!(
            open_file_limit = in_force,
            needed = want,
            capacity,
            fits,
            "the open-file limit is too low for WORKER_CAPACITY; taking at most {fits} sessions (raise the hard limit, e.g. `ulimit -n`, or LimitNOFILE)"
        );
        return fits;
    }
    capacity
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_and_limit_convert_both_ways() {
        assert_eq!(needed(1000), 2256);
        assert_eq!(sessions_within(2256), 1000);
        assert_eq!(sessions_within(1024), 384);
        assert_eq!(sessions_within(100), 0);
    }

    #[test]
    fn a_capacity_that_fits_is_kept() {
        // This process's limit is raised to what 10 sessions need, at most; 10 always fits
        // under any sane hard limit (276 descriptors).
        assert_eq!(fit_capacity(10), 10);
        let soft = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
        assert!(soft >= needed(10));
    }
}
