//! What a person did: the sessions they were in, and what their focus adds
//! up to.

use chrono::{Duration, FixedOffset, Utc};
use domain::focus::{self, FocusStats};
use domain::session::SessionHistory;

use super::{App, Caller, Result};

impl App {
    /// Sessions the caller was in that ended or that they left, most recent first.
    pub async fn session_history(&self, caller: &Caller) -> Result<Vec<SessionHistory>> {
        Ok(self.store.session_history(&caller.user().id).await?)
    }

    /// The caller's focused minutes, completed blocks and streaks over the
    /// last year, counted in days of the time zone `offset`.
    pub async fn focus_stats(&self, caller: &Caller, offset: FixedOffset) -> Result<FocusStats> {
        let now = Utc::now();
        let today = now.with_timezone(&offset).date_naive();
        // A day early: the first local day may begin before its UTC date.
        let since = now - Duration::days(focus::STATS_DAYS + 1);
        let record = self.store.focus_record(&caller.user().id, since).await?;
        Ok(focus::stats(&record.stays, &record.runs, today, offset))
    }
}
