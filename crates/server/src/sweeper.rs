//! The timed work of a node: its heartbeat, and sweeping the store for due
//! departures, empty sessions and reminders (see `store::Store::sweep`). Every
//! node runs one; the store makes sure each piece of work happens once.

use std::time::Duration;

use store::Timeouts;
use tokio::task::JoinHandle;

use crate::AppState;

pub fn spawn(state: AppState, timeouts: Timeouts, interval: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Rate limiters forget idle keys once a minute, never per request.
        let mut prune = tokio::time::interval(Duration::from_secs(60));
        prune.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = prune.tick() => {
                    state.app.prune_limits();
                    continue;
                }
                () = state.shutdown.cancelled() => return,
            }
            let node_id = state.presence.node_id();
            match state.app.heartbeat(node_id).await {
                Ok(true) => {}
                // Taken for dead while its writes stalled (or just started):
                // the people connected here are still here.
                Ok(false) => state.presence.assert_all().await,
                Err(error) => tracing::warn!(?error, "node heartbeat"),
            }
            if let Err(error) = state.app.sweep(node_id, &timeouts).await {
                tracing::warn!(?error, "sweeping for due work");
            }
        }
    })
}
