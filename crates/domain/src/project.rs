//! Projects: what a session is about, and the context the assistant is given.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::input::bounded_text;
use crate::{Id, InvalidInput};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Project {
    #[schema(value_type = String)]
    pub id: Id,
    #[schema(value_type = String)]
    pub owner_id: Id,
    pub name: String,
    pub description: Option<String>,
    pub repo_url: Option<String>,
    pub tech_stack: Vec<String>,
    /// Whether the people in the project's active sessions may watch its
    /// timelapses; otherwise they are the owner's alone.
    pub timelapses_shared: bool,
    pub created_at: DateTime<Utc>,
}

/// A timelapse video of work on a project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Timelapse {
    #[schema(value_type = String)]
    pub id: Id,
    #[schema(value_type = String)]
    pub project_id: Id,
    #[schema(value_type = String)]
    pub uploader_id: Id,
    pub filename: String,
    /// `video/mp4` or `video/webm`.
    pub content_type: String,
    pub size_bytes: i64,
    pub created_at: DateTime<Utc>,
    /// Where the video plays from (with range requests, so seeking works).
    pub url: String,
}

/// The video formats browsers play everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoFormat {
    Mp4,
    Webm,
}

impl VideoFormat {
    pub const MAX_BYTES: u64 = 500 * 1024 * 1024;

    pub fn from_content_type(raw: &str) -> Option<Self> {
        match raw
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
            .as_str()
        {
            "video/mp4" => Some(Self::Mp4),
            "video/webm" => Some(Self::Webm),
            _ => None,
        }
    }

    /// Whether a file's first bytes are this format's signature, so a file
    /// labelled a video is one.
    pub fn matches_signature(self, head: &[u8]) -> bool {
        match self {
            // ISO base media: a box size, then "ftyp".
            Self::Mp4 => head.len() >= 8 && &head[4..8] == b"ftyp",
            // EBML magic.
            Self::Webm => head.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]),
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Mp4 => "video/mp4",
            Self::Webm => "video/webm",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Self::Mp4 => "mp4",
            Self::Webm => "webm",
        }
    }
}

/// A file name as shown to people: no path, no control characters, bounded.
pub fn parse_filename(raw: &str) -> Result<String, InvalidInput> {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    bounded_text("name", base, 1, 200)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectName(String);

impl ProjectName {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        bounded_text("name", raw, 1, 100).map(Self)
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// Free text shown on pages and given to the assistant; an empty one means "none".
pub fn parse_description(raw: Option<&str>) -> Result<Option<String>, InvalidInput> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => bounded_text("description", text, 1, 2000).map(Some),
    }
}

/// A link to the code. Only http(s), because it is rendered as a link people click.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoUrl(String);

impl RepoUrl {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let raw = raw.trim();
        let invalid = |why: &str| InvalidInput::new("repo_url", why);
        if raw.len() > 500 {
            return Err(invalid("must be at most 500 characters"));
        }
        let url = url::Url::parse(raw)
            .map_err(|_| invalid("must be a URL like https://github.com/you/repo"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(invalid("must be an http or https URL"));
        }
        Ok(Self(raw.to_owned()))
    }

    /// An empty string clears the link, as an empty form field would.
    pub fn parse_optional(raw: Option<&str>) -> Result<Option<Self>, InvalidInput> {
        match raw.map(str::trim) {
            None | Some("") => Ok(None),
            Some(text) => Self::parse(text).map(Some),
        }
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// The languages and tools a project uses, e.g. `["rust", "axum"]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TechStack(Vec<String>);

impl TechStack {
    pub const MAX_ITEMS: usize = 20;

    pub fn parse(raw: &[String]) -> Result<Self, InvalidInput> {
        if raw.len() > Self::MAX_ITEMS {
            return Err(InvalidInput::new(
                "tech_stack",
                format!("must have at most {} items", Self::MAX_ITEMS),
            ));
        }
        let mut items: Vec<String> = Vec::with_capacity(raw.len());
        for item in raw {
            let item = bounded_text("tech_stack", item, 1, 40)?;
            if !items.iter().any(|seen| seen.eq_ignore_ascii_case(&item)) {
                items.push(item);
            }
        }
        Ok(Self(items))
    }

    pub fn into_inner(self) -> Vec<String> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_url_must_be_web() {
        assert!(RepoUrl::parse("https://github.com/lockin/lockin").is_ok());
        assert!(RepoUrl::parse("javascript:alert(1)").is_err());
        assert!(RepoUrl::parse("not a url").is_err());
        assert_eq!(RepoUrl::parse_optional(Some("  ")).unwrap(), None);
    }

    #[test]
    fn tech_stack_drops_duplicates_and_bounds_items() {
        let stack = TechStack::parse(&["Rust".into(), "rust".into(), "axum".into()]).unwrap();
        assert_eq!(stack.into_inner(), vec!["Rust", "axum"]);
        assert!(TechStack::parse(&["".into()]).is_err());
        assert!(TechStack::parse(&vec!["x".to_string(); 21]).is_err());
    }

    #[test]
    fn videos_are_recognised_by_type_and_signature() {
        assert_eq!(
            VideoFormat::from_content_type("video/MP4; codecs=avc1"),
            Some(VideoFormat::Mp4)
        );
        assert_eq!(VideoFormat::from_content_type("image/png"), None);
        assert!(VideoFormat::Mp4.matches_signature(b"\0\0\0\x18ftypmp42"));
        assert!(!VideoFormat::Mp4.matches_signature(b"GIF89a.."));
        assert!(VideoFormat::Webm.matches_signature(&[0x1A, 0x45, 0xDF, 0xA3, 0x01]));
        assert!(!VideoFormat::Webm.matches_signature(b"\0\0\0\x18ftyp"));
    }

    #[test]
    fn filenames_lose_their_path() {
        assert_eq!(parse_filename("../../etc/clip.mp4").unwrap(), "clip.mp4");
        assert_eq!(
            parse_filename("C:\\videos\\day1.webm").unwrap(),
            "day1.webm"
        );
        assert!(parse_filename("dir/").is_err());
    }

    #[test]
    fn empty_description_means_none() {
        assert_eq!(parse_description(Some("   ")).unwrap(), None);
        assert!(parse_description(Some(&"x".repeat(2001))).is_err());
    }
}
