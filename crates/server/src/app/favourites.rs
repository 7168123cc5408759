//! Favourites (docs/RITUAL.md, "Favourites"): marking the people someone
//! likes to focus with, and the sessions with them that the home page lists
//! first. The notice a favourite's new session becomes is written by the
//! store with the session ([`App::create_session`]).

use domain::Id;
use domain::favourite::Favourite;
use domain::session::SessionStatus;
use store::ListCursor;

use super::sessions::{LIVE_LIST_LIMIT, SessionList};
use super::{App, Caller, Result};

impl App {
    /// The caller marks `marked` as a favourite; marking twice is harmless.
    pub async fn mark_favourite(&self, caller: &Caller, marked: &Id) -> Result<Favourite> {
        let keeper = caller.person()?;
        let kept = self.store.mark_favourite(&keeper.id, marked).await;
        self.publish_write(kept, "no such person").await
    }

    /// Unmarking someone not marked is harmless.
    pub async fn unmark_favourite(&self, caller: &Caller, marked: &Id) -> Result<()> {
        let keeper = caller.person()?;
        self.store
            .unmark_favourite(&keeper.id, marked)
            .await
            .map_err(super::error::named("no such person"))
    }

    /// Whom the caller marked, the latest first.
    pub async fn favourites(&self, caller: &Caller) -> Result<Vec<Favourite>> {
        let keeper = caller.person()?;
        Ok(self.store.favourites(&keeper.id).await?)
    }

    /// A page of active or scheduled sessions, in their list's order, that
    /// someone the caller keeps as a favourite hosts, is in now, or asked to
    /// be reminded of.
    pub async fn favourite_sessions(
        &self,
        caller: &Caller,
        status: SessionStatus,
        limit: usize,
        after: Option<ListCursor>,
    ) -> Result<SessionList> {
        let keeper = caller.person()?;
        let page = self
            .store
            .list_favourite_sessions(&keeper.id, status, limit, after)
            .await?;
        Ok(SessionList::of(page))
    }

    /// The first page of [`App::favourite_sessions`], as the home page shows it.
    pub async fn first_favourite_sessions(
        &self,
        caller: &Caller,
        status: SessionStatus,
    ) -> Result<SessionList> {
        self.favourite_sessions(caller, status, LIVE_LIST_LIMIT, None)
            .await
    }
}
