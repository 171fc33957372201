//! The autoscaler's configuration, read from environment variables and validated at start with a
//! message naming the bad variable.

use std::time::Duration;

use wa_shared::config::{CommonConfig, ConfigError};

use super::decision::ScalingPolicy;

/// Everything `wa-worker autoscale` needs to run.
#[derive(Debug, Clone)]
pub struct AutoscalerConfig {
    /// Redis and logging, as for the api and the workers.
    pub common: CommonConfig,
    /// Name of the worker StatefulSet; its pods (`<name>-<ordinal>`) are the worker ids.
    pub statefulset: String,
    /// Namespace of the StatefulSet; `None` uses the client's default (in-cluster namespace or the
    /// kubeconfig context's).
    pub namespace: Option<String>,
    pub policy: ScalingPolicy,
    pub interval: Duration,
    pub lease_ttl: Duration,
    /// This autoscaler's identity in the lease.
    pub holder_id: String,
}

impl AutoscalerConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(CommonConfig::from_env()?, wa_shared::config::optional)
    }

    /// Reads the `AUTOSCALER_*` variables through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(
        common: CommonConfig,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let statefulset = get("AUTOSCALER_STATEFULSET").unwrap_or_else(|| "wa-worker".into());
        if !is_dns_label(&statefulset) {
            return Err(invalid(
                "AUTOSCALER_STATEFULSET",
                "must be a Kubernetes name (lowercase letters, digits and '-', at most 63)",
            ));
        }
        let namespace = get("AUTOSCALER_NAMESPACE");
        if let Some(ns) = &namespace
            && !is_dns_label(ns)
        {
            return Err(invalid(
                "AUTOSCALER_NAMESPACE",
                "must be a Kubernetes namespace name",
            ));
        }

        let target = number(&get, "AUTOSCALER_TARGET_SESSIONS_PER_WORKER", 500)?;
        if target == 0 {
            return Err(invalid(
                "AUTOSCALER_TARGET_SESSIONS_PER_WORKER",
                "must be above 0",
            ));
        }
        let min_replicas = number(&get, "AUTOSCALER_MIN_REPLICAS", 1)?;
        let max_replicas = number(&get, "AUTOSCALER_MAX_REPLICAS", 10)?;
        if max_replicas == 0 || max_replicas > 1000 {
            return Err(invalid("AUTOSCALER_MAX_REPLICAS", "must be 1 to 1000"));
        }
        if min_replicas > max_replicas {
            return Err(invalid(
                "AUTOSCALER_MIN_REPLICAS",
                format!("{min_replicas} is above AUTOSCALER_MAX_REPLICAS ({max_replicas})"),
            ));
        }
        let headroom_percent = number(&get, "AUTOSCALER_HEADROOM_PERCENT", 10)?;
        if headroom_percent > 1000 {
            return Err(invalid("AUTOSCALER_HEADROOM_PERCENT", "must be 0 to 1000"));
        }
        let cooldown_ms = number(&get, "AUTOSCALER_SCALE_DOWN_COOLDOWN_MS", 300_000)?;
        let interval_ms = number(&get, "AUTOSCALER_INTERVAL_MS", 5_000)?;
        if interval_ms < 50 {
            return Err(invalid("AUTOSCALER_INTERVAL_MS", "must be at least 50"));
        }
        let lease_ttl_ms = number(&get, "AUTOSCALER_LEASE_TTL_MS", 15_000)?;
        if lease_ttl_ms < 2 * interval_ms {
            return Err(invalid(
                "AUTOSCALER_LEASE_TTL_MS",
                format!(
                    "{lease_ttl_ms} must be at least twice AUTOSCALER_INTERVAL_MS ({interval_ms}) so the leader renews in time"
                ),
            ));
        }
        let holder_id = get("AUTOSCALER_ID")
            .or_else(|| get("HOSTNAME"))
            .unwrap_or_else(|| format!("autoscaler-{}", uuid::Uuid::new_v4()));

        Ok(Self {
            common,
            statefulset,
            namespace,
            policy: ScalingPolicy {
                target_sessions_per_worker: target,
                min_replicas: to_u32(min_replicas, "AUTOSCALER_MIN_REPLICAS")?,
                max_replicas: to_u32(max_replicas, "AUTOSCALER_MAX_REPLICAS")?,
                headroom_percent: to_u32(headroom_percent, "AUTOSCALER_HEADROOM_PERCENT")?,
                scale_down_cooldown_ms: cooldown_ms,
            },
            interval: Duration::from_millis(interval_ms),
            lease_ttl: Duration::from_millis(lease_ttl_ms),
            holder_id,
        })
    }

    /// How long a drain mark lives without being refreshed: a stopped autoscaler's marks lapse.
    pub fn drain_mark_ttl(&self) -> Duration {
        (self.lease_ttl * 2).max(self.interval * 4)
    }
}

fn invalid(variable: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError::new(variable, problem)
}

fn number(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: u64,
) -> Result<u64, ConfigError> {
    match get(variable) {
        None => Ok(default),
        Some(raw) => raw.trim().parse().map_err(|_| {
            invalid(
                variable,
                format!("{raw:?} is not a whole number of 0 or more"),
            )
        }),
    }
}

fn to_u32(value: u64, variable: &'static str) -> Result<u32, ConfigError> {
    u32::try_from(value).map_err(|_| invalid(variable, "is too large"))
}

fn is_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use wa_shared::config::{LogFormat, LogLevel};

    fn parse(vars: &[(&str, &str)]) -> Result<AutoscalerConfig, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let common = CommonConfig {
            redis_url: "redis://127.0.0.1:6379".into(),
            redis_prefix: "wa:".into(),
            log_level: LogLevel::Info,
            log_format: LogFormat::Json,
        };
        AutoscalerConfig::from_lookup(common, |name| map.get(name).cloned())
    }

    #[test]
    fn defaults_are_usable() {
        let c = parse(&[("AUTOSCALER_ID", "a1")]).unwrap();
        assert_eq!(c.statefulset, "wa-worker");
        assert_eq!(c.namespace, None);
        assert_eq!(c.policy.target_sessions_per_worker, 500);
        assert_eq!((c.policy.min_replicas, c.policy.max_replicas), (1, 10));
        assert_eq!(c.holder_id, "a1");
        assert!(c.drain_mark_ttl() >= c.lease_ttl);
    }

    #[test]
    fn bad_values_name_the_variable() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[("AUTOSCALER_MAX_REPLICAS", "many")],
                "AUTOSCALER_MAX_REPLICAS",
            ),
            (
                &[("AUTOSCALER_MAX_REPLICAS", "0")],
                "AUTOSCALER_MAX_REPLICAS",
            ),
            (
                &[
                    ("AUTOSCALER_MIN_REPLICAS", "5"),
                    ("AUTOSCALER_MAX_REPLICAS", "3"),
                ],
                "AUTOSCALER_MIN_REPLICAS",
            ),
            (
                &[("AUTOSCALER_TARGET_SESSIONS_PER_WORKER", "0")],
                "AUTOSCALER_TARGET_SESSIONS_PER_WORKER",
            ),
            (
                &[("AUTOSCALER_STATEFULSET", "Bad_Name")],
                "AUTOSCALER_STATEFULSET",
            ),
            (&[("AUTOSCALER_NAMESPACE", "x/y")], "AUTOSCALER_NAMESPACE"),
            (
                &[("AUTOSCALER_INTERVAL_MS", "-5")],
                "AUTOSCALER_INTERVAL_MS",
            ),
            (
                &[
                    ("AUTOSCALER_INTERVAL_MS", "1000"),
                    ("AUTOSCALER_LEASE_TTL_MS", "1500"),
                ],
                "AUTOSCALER_LEASE_TTL_MS",
            ),
            (
                &[("AUTOSCALER_HEADROOM_PERCENT", "5000")],
                "AUTOSCALER_HEADROOM_PERCENT",
            ),
        ];
        for (vars, variable) in cases {
            let err = parse(vars).expect_err(variable);
            assert_eq!(err.variable, *variable);
            assert!(err.to_string().contains(variable), "{err}");
        }
    }
}
