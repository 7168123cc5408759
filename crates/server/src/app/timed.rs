//! Timed work: a node's heartbeat and the sweep for due departures, empty
//! sessions and reminders (see `store::Store::sweep`).

use store::Timeouts;

use super::{App, Result};

impl App {
    /// Says this node is alive. False when the node was not on record (new,
    /// or taken for dead by others): its connections must be asserted again.
    pub async fn heartbeat(&self, node_id: &str) -> Result<bool> {
        Ok(self.store.heartbeat(node_id).await?)
    }

    /// Does what is due, and tells live listeners what it changed. Never
    /// takes `node_id`, the sweeping node, for dead.
    pub async fn sweep(&self, node_id: &str, timeouts: &Timeouts) -> Result<()> {
        let report = self.store.sweep(node_id, timeouts).await?;
        self.publish(report).await;
        Ok(())
    }

    /// A node stopping on purpose: its live connections count as closed now.
    pub async fn forget_node(&self, node_id: &str) -> Result<()> {
        Ok(self.store.forget_node(node_id).await?)
    }
}
