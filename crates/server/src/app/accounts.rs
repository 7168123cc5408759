//! Sign up, sign in, sign out.

use std::net::IpAddr;

use domain::user::{Email, Password, User, UserName};
use store::Store;

use super::{App, Caller, Error, Result};
use crate::auth;

/// A new sign-in: the account and the token shown to its holder once.
pub struct SignedIn {
    pub user: User,
    pub token: String,
}

/// Creates an account; for sign-up and for `lockin user create`, which has a
/// store but no running server.
pub async fn create_user(
    store: &dyn Store,
    email: Email,
    name: UserName,
    password: Password,
) -> Result<User> {
    let password_hash = auth::hash_password(password).await?;
    Ok(store
        .create_user(store::NewUser {
            email: email.as_str().to_owned(),
            name: name.as_str().to_owned(),
            password_hash,
        })
        .await?)
}

impl App {
    /// Creates an account and signs it in.
    pub async fn sign_up(
        &self,
        email: Email,
        name: UserName,
        password: Password,
    ) -> Result<SignedIn> {
        let user = create_user(self.store.as_ref(), email, name, password).await?;
        self.issue_token(user).await
    }

    /// Checks a password (limited per email and per client address) and signs in.
    pub async fn sign_in(
        &self,
        email: &str,
        password: String,
        client: Option<IpAddr>,
    ) -> Result<SignedIn> {
        let wrong = || Error::Unauthenticated("that email and password do not match an account");
        let Ok(email) = Email::parse(email) else {
            return Err(wrong());
        };
        self.login_limiter.check(email.as_str(), client)?;
        let found = self.store.user_credentials(email.as_str()).await?;
        let (user, hash) = found.map_or((None, None), |(user, hash)| (Some(user), Some(hash)));
        let matches = auth::verify_password(password, hash).await?;
        match user {
            Some(user) if matches => self.issue_token(user).await,
            _ => Err(wrong()),
        }
    }

    async fn issue_token(&self, user: User) -> Result<SignedIn> {
        let token = auth::new_token("lk_");
        self.store
            .insert_token(&user.id, &auth::hash_token(&token))
            .await?;
        Ok(SignedIn { user, token })
    }

    /// Revokes exactly the token the caller used; its live connections, on
    /// every node, close.
    pub async fn sign_out(&self, caller: &Caller) -> Result<()> {
        match caller {
            Caller::Person { token_hash, .. } => {
                self.store.revoke_token(token_hash).await?;
                self.publish(super::events::RevokedToken {
                    token_hash: token_hash.clone(),
                })
                .await;
                Ok(())
            }
            Caller::Agent(_) => Err(Error::Forbidden("the agent token cannot sign out")),
        }
    }
}
