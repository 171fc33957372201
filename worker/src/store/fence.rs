//! The fence token a store writes under: the lease value (`<worker-id>:<epoch>`) its owner holds.

use std::fmt;

/// Identifies one ownership period of a session. Every write of the store is refused unless the
/// session's lease still holds exactly this value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FenceToken {
    pub worker_id: String,
    pub epoch: u64,
}

impl FenceToken {
    pub fn new(worker_id: impl Into<String>, epoch: u64) -> Self {
        Self {
            worker_id: worker_id.into(),
            epoch,
        }
    }

    /// The lease value this token stands for.
    pub fn lease_value(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for FenceToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.worker_id, self.epoch)
    }
}
