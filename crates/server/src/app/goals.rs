//! Goals and check-outs: what each person says they will do in a session,
//! and how it went (docs/RITUAL.md, Goals).

use chrono::Utc;
use domain::Id;
use domain::goal::{CheckOutDraft, GoalDraft};
use domain::session::Participant;

use super::{App, Caller, Result};

impl App {
    /// States or changes the caller's goal (its text and checklist) in a
    /// running session they are in.
    pub async fn set_goal(
        &self,
        caller: &Caller,
        id: &Id,
        draft: GoalDraft,
    ) -> Result<Participant> {
        let person = caller.person()?;
        let set = self
            .store
            .set_goal(id, &person.id, draft.into_goal(Utc::now()))
            .await;
        self.publish_write(set, "no such session").await
    }

    /// Records how the caller's session went; they must have been in it.
    pub async fn check_out(
        &self,
        caller: &Caller,
        id: &Id,
        draft: CheckOutDraft,
    ) -> Result<Participant> {
        let person = caller.person()?;
        let checked = self
            .store
            .check_out(id, &person.id, draft.into_check_out(Utc::now()))
            .await;
        self.publish_write(checked, "no such session").await
    }
}
