//! Reminders before a scheduled session, the notifications they become, and
//! the secret calendar feed.

use domain::Id;
use domain::chat::Notification;
use domain::session::Session;
use domain::user::User;

use super::error::named;
use super::{App, Caller, Error, Result};
use crate::auth;

/// How many notifications a person sees.
pub const NOTIFICATIONS_SHOWN: usize = 50;

impl App {
    /// Asks to be reminded before a session starts; asking twice is harmless.
    pub async fn remind_me(&self, caller: &Caller, session_id: &Id) -> Result<()> {
        self.store
            .request_reminder(session_id, &caller.person()?.id)
            .await
            .map_err(named("no such session"))
    }

    /// Newest first.
    pub async fn notifications(&self, caller: &Caller) -> Result<Vec<Notification>> {
        Ok(self
            .store
            .notifications(&caller.user().id, NOTIFICATIONS_SHOWN)
            .await?)
    }

    pub async fn has_calendar_feed(&self, caller: &Caller) -> Result<bool> {
        Ok(self.store.has_calendar_secret(&caller.user().id).await?)
    }

    /// A new feed secret, replacing any earlier one (whose link stops working).
    /// The secret is returned once; only its hash is kept.
    pub async fn enable_calendar_feed(&self, caller: &Caller) -> Result<String> {
        let secret = auth::new_token("");
        self.store
            .set_calendar_secret(&caller.person()?.id, Some(&auth::hash_token(&secret)))
            .await?;
        Ok(secret)
    }

    pub async fn revoke_calendar_feed(&self, caller: &Caller) -> Result<()> {
        Ok(self
            .store
            .set_calendar_secret(&caller.person()?.id, None)
            .await?)
    }

    /// The feed's owner and the sessions it lists, soonest first.
    pub async fn calendar_feed(&self, secret: &str) -> Result<(User, Vec<Session>)> {
        let user = self
            .store
            .user_by_calendar_secret(&auth::hash_token(secret))
            .await?
            .ok_or(Error::Unauthenticated(
                "this calendar link is not valid (it may have been replaced)",
            ))?;
        let sessions = self.store.calendar_sessions(&user.id).await?;
        Ok((user, sessions))
    }
}
