//! Where a worker picks commands up: one loop reads the command streams of every session this
//! worker owns (`XREADGROUP GROUP owner <worker>` over all of them, on a connection of its own
//! because the read blocks) and hands each entry to its session's task. The task acknowledges the
//! entry once the command's effect is recorded.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use redis::AsyncCommands;
use redis::streams::{StreamId, StreamReadOptions, StreamReadReply};
use tokio::sync::watch;
use wa_shared::commands::{COMMAND_FIELD, COMMAND_GROUP, Command};

use crate::fleet::Fleet;
use crate::session::Control;

/// Longest time one read blocks, so a change in the set of owned sessions is picked up quickly.
const BLOCK: Duration = Duration::from_millis(500);
/// Entries read per stream per call.
const BATCH: usize = 100;

/// The command in a stream entry; `None` when the entry is not a command we understand.
pub fn parse_entry(entry: &StreamId) -> Option<Command> {
    let raw: String = entry.get(COMMAND_FIELD)?;
    Command::from_json(&raw).ok()
}

/// Acknowledges one entry of a session's command stream (failures are logged; the entry is then
/// re-executed by a later owner, which is harmless).
pub async fn ack<C: redis::aio::ConnectionLike + Send + Sync>(
    conn: &mut C,
    stream: &str,
    entry_id: &str,
) {
    let acked: redis::RedisResult<i64> = conn.xack(stream, COMMAND_GROUP, &[entry_id]).await;
    if let Err(error) = acked {
        tracing::warn!(%error, "command acknowledgement failed");
    }
}

/// Reads the command streams of the owned sessions until `stop` turns true.
pub async fn poll_commands(fleet: Arc<Fleet>, mut stop: watch::Receiver<bool>) {
    let mut conn = match fleet.blocking_connection(BLOCK * 4).await {
        Ok(conn) => conn,
        Err(error) => {
            tracing::error!(%error, "command reader cannot connect to Redis");
            return;
        }
    };
    let worker_id = fleet.config.worker_id.clone();
    loop {
        if *stop.borrow() {
            return;
        }
        let streams: HashMap<String, String> = fleet
            .owned_sessions()
            .into_iter()
            .map(|sid| (fleet.keys.commands(&sid), sid))
            .collect();
        if streams.is_empty() {
            tokio::select! {
                _ = fleet.ownership_changed.notified() => {}
                _ = stop.changed() => {}
                _ = tokio::time::sleep(BLOCK) => {}
            }
            continue;
        }
        let keys: Vec<&String> = streams.keys().collect();
        let ids: Vec<&str> = vec![">"; keys.len()];
        let options = StreamReadOptions::default()
            .group(COMMAND_GROUP, &worker_id)
            .count(BATCH)
            .block(BLOCK.as_millis() as usize);
        let read: redis::RedisResult<Option<StreamReadReply>> = tokio::select! {
            read = conn.xread_options(&keys, &ids, &options) => read,
            _ = stop.changed() => return,
        };
        let reply = match read {
            Ok(Some(reply)) => reply,
            Ok(None) => continue,
            Err(error) => {
                // A stream whose group vanished (session deleted meanwhile) fails the whole read;
                // the next round reads the current set again.
                tracing::debug!(%error, "command read failed");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        for stream in reply.keys {
            let Some(sid) = streams.get(&stream.key) else {
                continue;
            };
            for entry in stream.ids {
                match parse_entry(&entry) {
                    Some(command) => {
                        let delivered = fleet.deliver(
                            sid,
                            Control::Command {
                                entry_id: entry.id.clone(),
                                command,
                            },
                        );
                        if !delivered {
                            // The session ended meanwhile; the entry stays pending for its next owner.
                            tracing::debug!(session_id = %sid, "command for a session no longer held");
                        }
                    }
                    None => {
                        tracing::warn!(session_id = %sid, "unreadable command entry acknowledged and skipped");
                        ack(&mut conn, &stream.key, &entry.id).await;
                    }
                }
            }
        }
    }
}
