//! The timed work of a node: its heartbeat, and sweeping the store for due
//! departures, empty sessions and reminders (see `store::Store::sweep`). Every
//! node runs one; the store makes sure each piece of work happens once.

use std::time::Duration;

use domain::event::Event;
use store::Timeouts;
use tokio::task::JoinHandle;

use crate::AppState;

pub fn spawn(state: AppState, timeouts: Timeouts, interval: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = state.shutdown.cancelled() => return,
            }
            if let Err(error) = state.store.heartbeat(state.presence.node_id()).await {
                tracing::warn!(?error, "node heartbeat");
            }
            match state.store.sweep(&timeouts).await {
                Ok(report) => {
                    for session_id in report.sessions_changed {
                        state
                            .bus
                            .publish(Event::SessionChanged {
                                session_id: session_id.clone(),
                            })
                            .await;
                        state
                            .bus
                            .publish(Event::ParticipantsChanged { session_id })
                            .await;
                    }
                    for user_id in report.users_notified {
                        state
                            .bus
                            .publish(Event::NotificationsChanged { user_id })
                            .await;
                    }
                }
                Err(error) => tracing::warn!(?error, "sweeping for due work"),
            }
        }
    })
}
