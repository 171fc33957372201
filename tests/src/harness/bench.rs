//! Pieces the benchmark binaries share: percentiles and sessions created straight in Redis.

use std::time::Duration;

use wa_shared::commands::{CLAIMS_GROUP, COMMAND_GROUP};
use wa_shared::keys::Keys;
use wa_shared::scripts::UPSERT_SESSION;

/// The `p`-th percentile (nearest rank) of an ascending slice; the slice must not be empty.
pub fn percentile<T: Copy>(sorted: &[T], p: f64) -> T {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Milliseconds with a fraction, for printing.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Creates (or starts) session `sid` of `tenant` as `POST /connect` would: record, sets, claim.
pub async fn connect_session(
    conn: &mut redis::aio::MultiplexedConnection,
    keys: &Keys,
    tenant: &str,
    sid: &str,
    phone: &str,
) -> redis::RedisResult<()> {
    let _: (String, String) = UPSERT_SESSION
        .key(keys.session(sid))
        .key(keys.tenant_sessions(tenant))
        .key(keys.all_sessions())
        .key(keys.running_sessions())
        .key(keys.claims())
        .key(keys.lease(sid))
        .key(keys.commands(sid))
        .arg(sid)
        .arg(tenant)
        .arg(sid)
        .arg(phone)
        .arg(wa_shared::records::now_rfc3339())
        .arg("connect")
        .arg(CLAIMS_GROUP)
        .arg(COMMAND_GROUP)
        .invoke_async(conn)
        .await?;
    Ok(())
}

/// CPU time process `pid` has used so far (user + system, all threads), from `/proc/<pid>/stat`.
pub fn process_cpu(pid: u32) -> Duration {
    // Fields 14 and 15 (utime, stime) in clock ticks, which are 1/100 s on Linux; the command name
    // (field 2) may hold spaces, so fields are counted after its closing parenthesis.
    const TICKS_PER_SECOND: u64 = 100;
    let ticks = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let after_name = &stat[stat.rfind(')')? + 1..];
            let fields: Vec<&str> = after_name.split_whitespace().collect();
            let utime: u64 = fields.get(11)?.parse().ok()?;
            let stime: u64 = fields.get(12)?.parse().ok()?;
            Some(utime + stime)
        })
        .unwrap_or(0);
    Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND)
}

/// Redis's own CPU time (`used_cpu_user` + `used_cpu_sys`) and, per command, (calls, microseconds)
/// from `INFO commandstats`.
pub async fn redis_cpu_snapshot(
    conn: &mut redis::aio::MultiplexedConnection,
) -> (Duration, std::collections::HashMap<String, (u64, u64)>) {
    let info: String = redis::cmd("INFO")
        .arg("all")
        .query_async(conn)
        .await
        .unwrap_or_default();
    let mut cpu = 0.0f64;
    let mut commands = std::collections::HashMap::new();
    for line in info.lines() {
        if let Some(v) = line
            .strip_prefix("used_cpu_user:")
            .or_else(|| line.strip_prefix("used_cpu_sys:"))
        {
            cpu += v.trim().parse::<f64>().unwrap_or(0.0);
        } else if let Some(rest) = line.strip_prefix("cmdstat_") {
            let Some((name, fields)) = rest.split_once(':') else {
                continue;
            };
            let field = |key: &str| {
                fields
                    .split(',')
                    .find_map(|f| f.strip_prefix(key))
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0)
            };
            commands.insert(name.to_owned(), (field("calls="), field("usec=")));
        }
    }
    (Duration::from_secs_f64(cpu), commands)
}
