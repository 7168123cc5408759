//! Sign up, sign in, sign out.

use domain::user::{Email, Password, User, UserName};
use store::Store;

use super::{App, Caller, Error, Result};
use crate::limits::ClientKey;
use crate::{auth, passwords};

/// A new sign-in: the account and the token shown to its holder once.
pub struct SignedIn {
    pub user: User,
    pub token: String,
}

/// Creates an account; for `lockin user create`, which has a store but no
/// running server (and so nobody else hashing passwords).
pub async fn create_user(
    store: &dyn Store,
    email: Email,
    name: UserName,
    password: Password,
) -> Result<User> {
    let password_hash = passwords::hash(password).await?;
    insert_user(store, email, name, password_hash).await
}

async fn insert_user(
    store: &dyn Store,
    email: Email,
    name: UserName,
    password_hash: String,
) -> Result<User> {
    Ok(store
        .create_user(store::NewUser {
            email: email.as_str().to_owned(),
            name: name.as_str().to_owned(),
            password_hash,
        })
        .await?)
}

impl App {
    /// Creates an account and signs it in; limited per client and overall,
    /// and the password hashed only when the gate has a turn free.
    pub async fn sign_up(
        &self,
        email: Email,
        name: UserName,
        password: Password,
        client: ClientKey,
    ) -> Result<SignedIn> {
        self.sign_ups.check(client)?;
        let password_hash = self.passwords.run(passwords::hash(password)).await??;
        let user = insert_user(self.store.as_ref(), email, name, password_hash).await?;
        self.issue_token(user).await
    }

    /// Checks a password and signs in. A client that has been failing is
    /// refused for a while; failures elsewhere never refuse this one.
    pub async fn sign_in(
        &self,
        email: &str,
        password: String,
        client: ClientKey,
    ) -> Result<SignedIn> {
        let wrong = || Error::Unauthenticated("that email and password do not match an account");
        let Ok(email) = Email::parse(email) else {
            return Err(wrong());
        };
        self.sign_in_failures.check(email.as_str(), client)?;
        let found = self.store.user_credentials(email.as_str()).await?;
        let (user, hash) = found.map_or((None, None), |(user, hash)| (Some(user), Some(hash)));
        let matches = self
            .passwords
            .run(passwords::verify(password, hash))
            .await??;
        match user {
            Some(user) if matches => self.issue_token(user).await,
            _ => {
                self.sign_in_failures.failed(email.as_str(), client);
                Err(wrong())
            }
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
