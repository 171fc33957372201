//! One owned session: a task that runs its `whatsapp-rust` client on the session's
//! [`EncryptedStore`](crate::store::EncryptedStore), executes its commands, and reports what
//! happens through the fenced [`SessionReporter`](crate::report::SessionReporter).
//!
//! The worker talks to the task through a [`SessionHandle`]: commands read from the session's
//! stream and stop requests go in as [`Control`] messages; when the task ends it says so on the
//! shared `finished` channel so the worker forgets the session.

mod command_exec;
mod inbound;
mod message_ids;
mod runner;
mod whatsapp_events;

pub use message_ids::{message_id_for, wa_message_id};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use redis::aio::ConnectionManager;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use wa_shared::commands::Command;
use wa_shared::keys::Keys;

use crate::config::WorkerConfig;
use crate::connect_pacer::ConnectPacer;
use crate::lease::SessionLease;
use crate::metrics::WorkerMetrics;
use crate::store::FenceToken;

/// What every session task of a worker shares.
pub struct SessionContext {
    pub conn: ConnectionManager,
    pub keys: Keys,
    pub config: Arc<WorkerConfig>,
    pub lease: SessionLease,
    pub pacer: ConnectPacer,
    pub metrics: Arc<WorkerMetrics>,
    pub finished: mpsc::UnboundedSender<Finished>,
}

/// A session task ended; the worker drops its handle if the fence still matches.
#[derive(Debug)]
pub struct Finished {
    pub sid: String,
    pub fence: FenceToken,
}

/// How a session task is asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopKind {
    /// Shut the client down gracefully (state flushed), release the lease and queue a claim so
    /// another worker connects the session at once (SIGTERM, draining).
    Handover,
    /// The lease is gone (renewal refused or too late): close the client now, write nothing.
    LeaseLost,
}

/// Messages to a session task.
#[derive(Debug)]
pub enum Control {
    /// A command read as new (`>`) from the session's stream, acknowledged once executed.
    Command {
        entry_id: String,
        command: Command,
    },
    Stop(StopKind),
}

/// The worker's handle on one running session task.
pub struct SessionHandle {
    pub fence: FenceToken,
    control: mpsc::UnboundedSender<Control>,
    connected: Arc<AtomicBool>,
    pub task: JoinHandle<()>,
}

/// What a session task is started with.
pub struct Assignment {
    pub sid: String,
    pub tenant: String,
    pub fence: FenceToken,
    /// Claimed only to log the session out and wipe it (`DELETE` while nobody owned it).
    pub deleting: bool,
}

impl SessionHandle {
    /// Starts the task of a session this worker has just claimed.
    pub fn spawn(ctx: Arc<SessionContext>, assignment: Assignment) -> Self {
        let (control, inbox) = mpsc::unbounded_channel();
        let connected = Arc::new(AtomicBool::new(false));
        let fence = assignment.fence.clone();
        let task = tokio::spawn(runner::run(ctx, assignment, inbox, connected.clone()));
        Self {
            fence,
            control,
            connected,
            task,
        }
    }

    /// Hands a message to the task; false when the task has already ended.
    pub fn send(&self, message: Control) -> bool {
        self.control.send(message).is_ok()
    }

    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }
}
