//! Where a worker picks commands up. The api writes a command to the session's stream and rings the
//! owner's doorbell (`wa:inbox:<worker-id>`, one entry naming the session); one loop here blocks on
//! that inbox and reads, with `XREADGROUP GROUP owner <worker>`, only the streams that were rung,
//! then hands each entry to its session's task. The task acknowledges the entry once the command's
//! effect is recorded.
//!
//! Doorbells are a hint, not the record: the streams of sessions this worker has just claimed are
//! read at once (commands written before the claim rang nobody), and every owned stream is swept
//! every [`SWEEP_EVERY`], so a doorbell that was lost or trimmed delays a command, never loses it.
//! The cost of a read follows the number of streams with news, not the number of sessions held.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;
use redis::streams::{StreamId, StreamKey, StreamRangeReply, StreamReadOptions, StreamReadReply};
use tokio::sync::watch;
use wa_shared::commands::{COMMAND_FIELD, COMMAND_GROUP, Command};

use crate::fleet::Fleet;
use crate::metrics::WorkerMetrics;
use crate::session::Control;

/// Longest time one inbox read blocks, so new sessions and `stop` are noticed quickly.
const BLOCK: Duration = Duration::from_millis(250);
/// Every owned stream is read at least this often, doorbell or not.
const SWEEP_EVERY: Duration = Duration::from_secs(2);
/// Doorbells taken from the inbox per read.
const INBOX_BATCH: usize = 1000;
/// Entries read per stream per call; a stream that fills it is read again at once.
const BATCH: usize = 100;
/// Streams named in one `XREADGROUP`.
const STREAMS_PER_READ: usize = 256;

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

/// Reads this worker's doorbells and the command streams they name until `stop` turns true.
pub async fn poll_commands(fleet: Arc<Fleet>, mut stop: watch::Receiver<bool>) {
    let mut conn = match fleet.blocking_connection(BLOCK * 8).await {
        Ok(conn) => conn,
        Err(error) => {
            tracing::error!(%error, "command reader cannot connect to Redis");
            return;
        }
    };
    let inbox = fleet.keys.worker_inbox(&fleet.config.worker_id);
    let mut reader = CommandReader {
        fleet: fleet.clone(),
        inbox_cursor: newest_doorbell(&mut conn, &inbox).await,
        inbox,
        owned: HashSet::new(),
        generation: None,
        known: HashSet::new(),
        next_sweep: Instant::now(),
    };
    loop {
        if *stop.borrow() {
            return;
        }
        let round = tokio::select! {
            round = reader.round(&mut conn) => round,
            _ = stop.changed() => return,
        };
        if let Err(error) = round {
            // Redis unreachable or the connection dropped (a stream Redis refuses is skipped
            // inside the round): try again shortly.
            tracing::debug!(%error, "command read failed");
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                _ = stop.changed() => return,
            }
        }
    }
}

/// The id of the newest doorbell already in the inbox ("0-0" when none): older ones are not news.
async fn newest_doorbell(conn: &mut MultiplexedConnection, inbox: &str) -> String {
    let newest: redis::RedisResult<StreamRangeReply> =
        conn.xrevrange_count(inbox, "+", "-", 1).await;
    newest
        .ok()
        .and_then(|reply| reply.ids.into_iter().next())
        .map(|entry| entry.id)
        .unwrap_or_else(|| "0-0".to_string())
}

/// Redis answered the read with an error about what it names (not a lost connection).
fn refused_by_redis(error: &redis::RedisError) -> bool {
    error.code().is_some()
}

struct CommandReader {
    fleet: Arc<Fleet>,
    inbox: String,
    /// Id of the last doorbell taken.
    inbox_cursor: String,
    /// The sessions this worker owns, as of `generation` of the fleet's ownership.
    owned: HashSet<String>,
    generation: Option<u64>,
    /// Sessions whose streams were read since they became ours.
    known: HashSet<String>,
    next_sweep: Instant,
}

impl CommandReader {
    /// One round: sessions new to this reader (or all of them, when a sweep is due) are read at
    /// once; otherwise wait up to [`BLOCK`] for doorbells and read the streams they name.
    async fn round(&mut self, conn: &mut MultiplexedConnection) -> redis::RedisResult<()> {
        let generation = self.fleet.ownership_generation();
        if self.generation != Some(generation) {
            // Only copied when it changed, not on every round.
            self.generation = Some(generation);
            self.owned = self.fleet.owned_sessions().into_iter().collect();
            let owned = &self.owned;
            self.known.retain(|sid| owned.contains(sid));
        }
        if Instant::now() >= self.next_sweep {
            self.next_sweep = Instant::now() + SWEEP_EVERY;
            self.known = self.owned.clone();
            let found = self.read_streams(conn, self.owned.clone()).await?;
            WorkerMetrics::add(&self.fleet.metrics.commands_by_sweep, found);
            return Ok(());
        }
        let fresh: HashSet<String> = self.owned.difference(&self.known).cloned().collect();
        if !fresh.is_empty() {
            self.known.extend(fresh.iter().cloned());
            return self.read_streams(conn, fresh).await.map(|_| ());
        }
        let rung = self.take_doorbells(conn).await?;
        WorkerMetrics::add(&self.fleet.metrics.doorbells, rung.len() as u64);
        let rung: HashSet<String> = rung
            .into_iter()
            .filter(|sid| self.owned.contains(sid))
            .collect();
        self.read_streams(conn, rung).await.map(|_| ())
    }

    /// Blocks up to [`BLOCK`] for doorbells; returns the sessions they name.
    async fn take_doorbells(
        &mut self,
        conn: &mut MultiplexedConnection,
    ) -> redis::RedisResult<Vec<String>> {
        let options = StreamReadOptions::default()
            .count(INBOX_BATCH)
            .block(BLOCK.as_millis() as usize);
        let reply: Option<StreamReadReply> = conn
            .xread_options(&[&self.inbox], &[&self.inbox_cursor], &options)
            .await?;
        let mut sessions = Vec::new();
        for stream in reply.map(|r| r.keys).unwrap_or_default() {
            for entry in stream.ids {
                if let Some(sid) = entry.get::<String>("session") {
                    sessions.push(sid);
                }
                self.inbox_cursor = entry.id;
            }
        }
        Ok(sessions)
    }

    /// Reads the new entries of the command streams of `sessions` (without blocking) and delivers
    /// them; a stream that returned a full batch is read again. Returns how many entries it read.
    async fn read_streams(
        &self,
        conn: &mut MultiplexedConnection,
        sessions: HashSet<String>,
    ) -> redis::RedisResult<u64> {
        let mut read = 0u64;
        let mut pending: Vec<String> = sessions.into_iter().collect();
        while !pending.is_empty() {
            let mut again = Vec::new();
            for chunk in pending.chunks(STREAMS_PER_READ) {
                let found = match self.read_chunk(conn, chunk).await {
                    Ok(found) => found,
                    Err(error) if refused_by_redis(&error) => {
                        self.read_one_by_one(conn, chunk, &error).await?
                    }
                    Err(error) => return Err(error),
                };
                for (sid, stream) in found {
                    if stream.ids.len() >= BATCH {
                        again.push(sid.clone());
                    }
                    read += stream.ids.len() as u64;
                    for entry in stream.ids {
                        self.deliver(conn, &sid, &stream.key, entry).await;
                    }
                }
            }
            pending = again;
        }
        Ok(read)
    }

    /// After Redis refused a read of `sessions` together (`error`): reads each stream on its own,
    /// so one broken stream (its group gone with a deleted session, or a key of another type) does
    /// not hold up the others; the streams refused again are skipped. A single stream is not read
    /// twice.
    async fn read_one_by_one(
        &self,
        conn: &mut MultiplexedConnection,
        sessions: &[String],
        error: &redis::RedisError,
    ) -> redis::RedisResult<Vec<(String, StreamKey)>> {
        if let [sid] = sessions {
            tracing::debug!(session_id = %sid, %error, "command stream unreadable");
            return Ok(Vec::new());
        }
        let mut found = Vec::new();
        for sid in sessions {
            match self.read_chunk(conn, std::slice::from_ref(sid)).await {
                Ok(mut one) => found.append(&mut one),
                Err(error) if refused_by_redis(&error) => {
                    tracing::debug!(session_id = %sid, %error, "command stream unreadable");
                }
                Err(error) => return Err(error),
            }
        }
        Ok(found)
    }

    /// One `XREADGROUP` over the command streams of `sessions`: the streams with new entries,
    /// each with the session it belongs to.
    async fn read_chunk(
        &self,
        conn: &mut MultiplexedConnection,
        sessions: &[String],
    ) -> redis::RedisResult<Vec<(String, StreamKey)>> {
        let fleet = &self.fleet;
        let streams: HashMap<String, &String> = sessions
            .iter()
            .map(|sid| (fleet.keys.commands(sid), sid))
            .collect();
        let keys: Vec<&String> = streams.keys().collect();
        let ids = vec![">"; keys.len()];
        let options = StreamReadOptions::default()
            .group(COMMAND_GROUP, &fleet.config.worker_id)
            .count(BATCH);
        let reply: Option<StreamReadReply> = conn.xread_options(&keys, &ids, &options).await?;
        Ok(reply
            .map(|r| r.keys)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|stream| {
                let sid = streams.get(&stream.key)?;
                Some(((*sid).clone(), stream))
            })
            .collect())
    }

    async fn deliver(
        &self,
        conn: &mut MultiplexedConnection,
        sid: &str,
        stream: &str,
        entry: StreamId,
    ) {
        match parse_entry(&entry) {
            Some(command) => {
                let delivered = self.fleet.deliver(
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
                ack(conn, stream, &entry.id).await;
            }
        }
    }
}
