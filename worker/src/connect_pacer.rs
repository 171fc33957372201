//! `ConnectPacer`: spreads client connects over time (`CONNECTS_PER_SECOND`), so a worker that
//! takes over hundreds of sessions at once opens them at a steady rate instead of in one burst.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

pub struct ConnectPacer {
    spacing: Duration,
    next_slot: Mutex<Instant>,
}

impl ConnectPacer {
    pub fn new(per_second: u32) -> Self {
        Self {
            spacing: Duration::from_secs(1) / per_second.max(1),
            next_slot: Mutex::new(Instant::now()),
        }
    }

    /// Waits for this caller's turn: callers are let through one per spacing, in arrival order.
    pub async fn wait_turn(&self) {
        let slot = {
            let mut next = self.next_slot.lock().await;
            let now = Instant::now();
            let slot = (*next).max(now);
            *next = slot + self.spacing;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn callers_are_spaced_by_the_rate() {
        let pacer = ConnectPacer::new(10);
        let start = Instant::now();
        for _ in 0..5 {
            pacer.wait_turn().await;
        }
        // The first goes at once, the fifth four spacings (4 x 100 ms) later.
        assert_eq!(start.elapsed(), Duration::from_millis(400));
    }
}
