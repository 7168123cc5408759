//! What a person did: the sessions they were in.

use domain::session::SessionHistory;

use super::{App, Caller, Result};

impl App {
    /// Sessions the caller was in that ended or that they left, most recent first.
    pub async fn session_history(&self, caller: &Caller) -> Result<Vec<SessionHistory>> {
        Ok(self.store.session_history(&caller.user().id).await?)
    }
}
