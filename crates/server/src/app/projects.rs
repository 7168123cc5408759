//! Projects: the context a session (and its assistant) works in.

use domain::Id;
use domain::project::Project;
use domain::session::Session;
use store::{NewProject, ProjectChanges};

use super::error::named;
use super::{App, Caller, Error, Result};

impl App {
    /// Creates a project owned by the caller.
    pub async fn create_project(&self, caller: &Caller, project: NewProject) -> Result<Project> {
        let owner = caller.person()?;
        Ok(self.store.create_project(&owner.id, project).await?)
    }

    /// The caller's own projects, newest first.
    pub async fn my_projects(&self, caller: &Caller) -> Result<Vec<Project>> {
        Ok(self.store.projects_of(&caller.user().id).await?)
    }

    /// A project the caller may see; any other is "not found", so ids of
    /// others' projects cannot be probed.
    pub async fn project(&self, caller: &Caller, id: &Id) -> Result<Project> {
        let not_found = || Error::NotFound("no such project");
        if !self.store.can_see_project(id, &caller.user().id).await? {
            return Err(not_found());
        }
        self.store.project(id).await?.ok_or_else(not_found)
    }

    /// Whether the caller may open a project (a card links it only then).
    pub async fn can_see_project(&self, caller: &Caller, id: &Id) -> Result<bool> {
        Ok(self.store.can_see_project(id, &caller.user().id).await?)
    }

    /// A project's name for whoever sees a session linked to it.
    pub async fn project_name(&self, id: &Id) -> Result<Option<String>> {
        Ok(self.store.project(id).await?.map(|project| project.name))
    }

    /// A project the caller owns: for the forms that change it. The change
    /// itself decides again, in its own transaction.
    pub async fn owned_project(&self, caller: &Caller, id: &Id) -> Result<Project> {
        let project = self.project(caller, id).await?;
        if project.owner_id != caller.user().id {
            return Err(Error::Forbidden("only the project's owner can change it"));
        }
        Ok(project)
    }

    pub async fn update_project(
        &self,
        caller: &Caller,
        id: &Id,
        changes: ProjectChanges,
    ) -> Result<Project> {
        self.project(caller, id).await?;
        self.store
            .update_project(id, &caller.user().id, changes)
            .await
            .map_err(named("no such project"))
    }

    /// Deletes a project and its timelapses (records and files); its
    /// sessions carry on without one.
    pub async fn delete_project(&self, caller: &Caller, id: &Id) -> Result<()> {
        self.project(caller, id).await?;
        let deleted = self.store.delete_project(id, &caller.user().id).await;
        self.remove_videos(deleted, "no such project").await
    }

    /// Sessions linked to a project the caller may see, newest first.
    pub async fn project_sessions(&self, caller: &Caller, id: &Id) -> Result<Vec<Session>> {
        self.project(caller, id).await?;
        Ok(self.store.project_sessions(id).await?)
    }
}
