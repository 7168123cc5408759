//! Password hashing and checking, on a fixed set of threads.
//!
//! Argon2id (the crate's default parameters: 19 MiB, two passes) works
//! through 19 MiB of memory for every hash and every check. Run on the
//! blocking pool, each one allocated that memory afresh on whichever of its
//! up to 512 threads picked it up, and the allocator kept what each thread
//! had touched: a sign-up flood left the process hundreds of MiB larger.
//!
//! Here one thread per core does all the password work, and each owns one
//! Argon2 memory, allocated when the thread starts and reused for every hash
//! after: what password hashing costs in memory is fixed at start, whatever
//! the traffic. How many requests may wait for these threads, and for how
//! long, is [`crate::limits::PasswordGate`]'s to decide.
//!
//! Hashes are standard PHC strings (`$argon2id$v=19$m=19456,t=2,p=1$…`), the
//! same as `Argon2::hash_password` writes, and any such string is checked.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{LazyLock, Mutex};

use anyhow::{Context, anyhow};
use argon2::password_hash::{Output, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use domain::user::Password;
use tokio::sync::oneshot;

/// Hashes a new password into a PHC string.
pub async fn hash(password: Password) -> anyhow::Result<String> {
    let (reply, answer) = oneshot::channel();
    WORKERS.send(Job::Hash { password, reply })?;
    answer.await.context("the password thread stopped")?
}

/// Checks `password` against `stored`. With no stored hash (an unknown email)
/// or an unusable one (the assistant's account) it spends the same work and
/// answers false, so timing does not tell which emails exist.
pub async fn verify(password: String, stored: Option<String>) -> anyhow::Result<bool> {
    let (reply, answer) = oneshot::channel();
    WORKERS.send(Job::Verify {
        password,
        stored,
        reply,
    })?;
    answer.await.context("the password thread stopped")
}

enum Job {
    Hash {
        password: Password,
        reply: oneshot::Sender<anyhow::Result<String>>,
    },
    Verify {
        password: String,
        stored: Option<String>,
        reply: oneshot::Sender<bool>,
    },
}

/// The password threads, started on first use: one per core, taking jobs
/// from one queue.
struct Workers {
    jobs: Sender<Job>,
}

static WORKERS: LazyLock<Workers> = LazyLock::new(|| {
    let (jobs, queue) = channel();
    let queue: &'static Mutex<Receiver<Job>> = Box::leak(Box::new(Mutex::new(queue)));
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    for n in 0..cores {
        std::thread::Builder::new()
            .name(format!("password-{n}"))
            .spawn(move || work(queue))
            .expect("starting a password thread");
    }
    Workers { jobs }
});

impl Workers {
    fn send(&self, job: Job) -> anyhow::Result<()> {
        self.jobs
            .send(job)
            .map_err(|_| anyhow!("the password threads have stopped"))
    }
}

fn work(queue: &Mutex<Receiver<Job>>) {
    let mut memory = Memory::new();
    loop {
        let job = queue
            .lock()
            .expect("the password queue's lock is never poisoned")
            .recv();
        match job {
            Ok(Job::Hash { password, reply }) => {
                let _ = reply.send(memory.hash(password.expose().as_bytes()));
            }
            Ok(Job::Verify {
                password,
                stored,
                reply,
            }) => {
                let _ = reply.send(memory.verify(password.as_bytes(), stored.as_deref()));
            }
            Err(_) => return,
        }
    }
}

/// One thread's Argon2 memory, sized for the default parameters.
struct Memory {
    blocks: Vec<Block>,
}

impl Memory {
    fn new() -> Self {
        Self {
            blocks: vec![Block::default(); Params::default().block_count()],
        }
    }

    fn hash(&mut self, password: &[u8]) -> anyhow::Result<String> {
        let argon2 = Argon2::default();
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let mut salt_bytes = [0; 64];
        let salt_bytes = salt
            .decode_b64(&mut salt_bytes)
            .map_err(|e| anyhow!("decoding a fresh salt: {e}"))?;
        let mut output = [0; Params::DEFAULT_OUTPUT_LEN];
        argon2
            .hash_password_into_with_memory(password, salt_bytes, &mut output, &mut self.blocks)
            .map_err(|e| anyhow!("hashing a password: {e}"))?;
        let hash = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: argon2
                .params()
                .try_into()
                .map_err(|e| anyhow!("writing Argon2 parameters: {e}"))?,
            salt: Some(salt.as_salt()),
            hash: Some(Output::new(&output).map_err(|e| anyhow!("argon2 output: {e}"))?),
        };
        Ok(hash.to_string())
    }

    fn verify(&mut self, password: &[u8], stored: Option<&str>) -> bool {
        let usable = stored.and_then(|stored| PasswordHash::new(stored).ok());
        let matches = self.matches(password, usable.as_ref().unwrap_or(&DECOY));
        matches && usable.is_some()
    }

    /// Whether `password` hashes to `stored`, compared in constant time.
    fn matches(&mut self, password: &[u8], stored: &PasswordHash) -> bool {
        let Some(expected) = stored.hash else {
            return false;
        };
        let Ok(algorithm) = Algorithm::try_from(stored.algorithm) else {
            return false;
        };
        let version = match stored.version.map(Version::try_from) {
            None => Version::default(),
            Some(Ok(version)) => version,
            Some(Err(_)) => return false,
        };
        let Ok(params) = Params::try_from(stored) else {
            return false;
        };
        let Some(salt) = stored.salt else {
            return false;
        };
        let mut salt_bytes = [0; 64];
        let Ok(salt_bytes) = salt.decode_b64(&mut salt_bytes) else {
            return false;
        };
        let needed = params.block_count();
        let argon2 = Argon2::new(algorithm, version, params);
        let mut output = vec![0; expected.len()];
        let done = if needed <= self.blocks.len() {
            argon2.hash_password_into_with_memory(
                password,
                salt_bytes,
                &mut output,
                &mut self.blocks[..needed],
            )
        } else {
            // A hash made with more memory than ours (not by this server):
            // checked once with memory of its own.
            argon2.hash_password_into(password, salt_bytes, &mut output)
        };
        done.is_ok() && Output::new(&output).is_ok_and(|output| output == expected)
    }
}

/// What an unknown email's password is checked against, for equal work.
static DECOY: LazyLock<PasswordHash<'static>> = LazyLock::new(|| {
    let text = Memory::new()
        .hash(b"decoy password for unknown emails")
        .expect("argon2 hashes a constant");
    PasswordHash::new(Box::leak(text.into_boxed_str())).expect("a hash just written parses")
});

#[cfg(test)]
mod tests {
    use argon2::{PasswordHasher, PasswordVerifier};

    use super::*;

    #[tokio::test]
    async fn passwords_verify_only_themselves() {
        let hash = hash(Password::parse("correct horse".into()).unwrap())
            .await
            .unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(
            verify("correct horse".into(), Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(!verify("wrong horse".into(), Some(hash)).await.unwrap());
        assert!(!verify("anything".into(), None).await.unwrap());
        assert!(!verify("!".into(), Some("!".into())).await.unwrap());
    }

    #[test]
    fn hashes_are_the_argon2_crates_own() {
        let mut memory = Memory::new();
        let ours = memory.hash(b"correct horse").unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", &PasswordHash::new(&ours).unwrap())
                .is_ok()
        );
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let theirs = Argon2::default()
            .hash_password(b"correct horse", &salt)
            .unwrap()
            .to_string();
        assert!(memory.verify(b"correct horse", Some(&theirs)));
        assert!(!memory.verify(b"correct horse!", Some(&theirs)));
    }

    #[test]
    fn a_hash_with_other_parameters_is_checked_too() {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let params = Params::new(2 * Params::DEFAULT_M_COST, 1, 1, None).unwrap();
        let bigger = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(b"correct horse", &salt)
            .unwrap()
            .to_string();
        let mut memory = Memory::new();
        assert!(memory.verify(b"correct horse", Some(&bigger)));
        assert!(!memory.verify(b"wrong horse", Some(&bigger)));
    }
}
