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
