//! Timelapse videos of a project: uploaded as a stream straight to disk (never
//! held whole in memory, never past the uploader's quota or the disk's free
//! space), listed, and served with range requests so seeking works.

use std::path::PathBuf;

use axum::Json;
use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use domain::Id;
use domain::input::NonBlank;
use domain::project::{Timelapse, VideoFormat, parse_filename};
use futures::StreamExt;
use serde::Deserialize;
use store::NewTimelapse;
use tokio::io::AsyncWriteExt;
use tower::ServiceExt;
use tower_http::services::ServeFile;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::app::App;
use crate::app::timelapses::{UploadRoom, over_size_limit};
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiQuery, PathId};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload_timelapse, list_timelapses))
        .routes(routes!(play_timelapse))
        .routes(routes!(delete_timelapse))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// The file's name, as shown on the project page: 1–200 characters, not only spaces.
    #[param(value_type = NonBlank<200>, inline)]
    name: String,
}

/// The bytes of a video file, sent as the whole request body (not a form).
pub struct VideoFile;

impl utoipa::PartialSchema for VideoFile {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Binary,
            )))
            .into()
    }
}

impl utoipa::ToSchema for VideoFile {}

const WRONG_TYPE: &str = "upload an mp4 or webm video";

/// How much is written between two looks at the disk's free space.
const FREE_SPACE_CHECK_BYTES: u64 = 16 * 1024 * 1024;

/// Streams `body` into `path`, checking the size against `room` and the
/// disk's free space as it goes and the format's signature on the first
/// bytes. On any refusal the partial file is removed.
async fn receive(
    app: &App,
    body: Body,
    path: &PathBuf,
    format: VideoFormat,
    room: UploadRoom,
) -> ApiResult<u64> {
    let result = async {
        let mut file = tokio::fs::File::create(path)
            .await
            .map_err(anyhow::Error::from)?;
        let mut stream = body.into_data_stream();
        let mut head = Vec::with_capacity(16);
        let mut size: u64 = 0;
        let mut space_checked_at: u64 = 0;
        while let Some(chunk) = stream.next().await {
            let chunk =
                chunk.map_err(|_| ApiError::BadRequest("the upload was interrupted".into()))?;
            size += chunk.len() as u64;
            if size > room.max_bytes {
                return Err(room.refusal().into());
            }
            if size - space_checked_at >= FREE_SPACE_CHECK_BYTES {
                app.check_free_space(0).await?;
                space_checked_at = size;
            }
            if head.len() < 16 {
                head.extend(chunk.iter().take(16 - head.len()));
                if head.len() >= 12 && !format.matches_signature(&head) {
                    return Err(ApiError::UnsupportedMediaType(
                        "the file is not an mp4 or webm video",
                    ));
                }
            }
            file.write_all(&chunk).await.map_err(anyhow::Error::from)?;
        }
        if size == 0 {
            return Err(ApiError::invalid("file", "the file is empty"));
        }
        if !format.matches_signature(&head) {
            return Err(ApiError::UnsupportedMediaType(
                "the file is not an mp4 or webm video",
            ));
        }
        // Acknowledged uploads survive a crash.
        file.sync_all().await.map_err(anyhow::Error::from)?;
        Ok(size)
    }
    .await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(path).await;
    }
    result
}

#[utoipa::path(post, path = "/api/projects/{id}/timelapses", tag = "projects", security(("bearer" = []), ("cookie" = [])),
    params(UploadQuery),
    request_body(description = "the video file itself, up to 500 MB and up to what is left of the uploader's quota \
        (--upload-quota-per-person); its first bytes must be an mp4 or webm signature",
        content((VideoFile = "video/mp4"), (VideoFile = "video/webm"))),
    responses((status = 201, body = Timelapse), (status = 403, body = ErrorBody),
        (status = 413, description = "over 500 MB, or over what is left of the uploader's quota", body = ErrorBody),
        (status = 415, body = ErrorBody),
        (status = 507, description = "the server's disk would be left with less than --min-free-space", body = ErrorBody)))]
async fn upload_timelapse(
    me: CurrentUser,
    PathId(project_id): PathId,
    ApiQuery(query): ApiQuery<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<Timelapse>)> {
    let filename = parse_filename(&query.name)?;
    let format = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(VideoFormat::from_content_type)
        .ok_or(ApiError::UnsupportedMediaType(WRONG_TYPE))?;
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > VideoFormat::MAX_BYTES) {
        return Err(over_size_limit().into());
    }
    // Refused early, before a byte is written; recording decides again.
    let room = me
        .app
        .upload_room(&me.caller, &project_id, declared)
        .await?;
    tokio::fs::create_dir_all(me.app.videos_dir())
        .await
        .map_err(anyhow::Error::from)?;
    let id = Id::generate();
    let partial = me.app.partial_video_path(&id);
    let size = receive(&me.app, body, &partial, format, room).await?;
    // The file is in place before its record exists: a crash between the two
    // leaves a file nobody can reach, never a record without its video.
    let file = me.app.video_file(&id, format);
    tokio::fs::rename(&partial, &file)
        .await
        .map_err(anyhow::Error::from)?;
    let timelapse = NewTimelapse {
        id,
        project_id,
        filename,
        content_type: format.content_type().to_owned(),
        size_bytes: i64::try_from(size).map_err(anyhow::Error::from)?,
    };
    let stored = match me.app.record_timelapse(&me.caller, timelapse).await {
        Ok(stored) => stored,
        Err(error) => {
            let _ = tokio::fs::remove_file(&file).await;
            return Err(error.into());
        }
    };
    Ok((StatusCode::CREATED, Json(stored)))
}

#[utoipa::path(get, path = "/api/projects/{id}/timelapses", tag = "projects", security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "newest first", body = [Timelapse])))]
async fn list_timelapses(
    me: CurrentUser,
    PathId(project_id): PathId,
) -> ApiResult<Json<Vec<Timelapse>>> {
    Ok(Json(me.app.timelapses(&me.caller, &project_id).await?))
}

#[utoipa::path(get, path = "/api/timelapses/{id}/video", tag = "projects", security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "the video, in the format it was uploaded in",
            content((VideoFile = "video/mp4"), (VideoFile = "video/webm"))),
        (status = 206, description = "a range of it", content((VideoFile = "video/mp4"), (VideoFile = "video/webm")))))]
async fn play_timelapse(
    me: CurrentUser,
    PathId(id): PathId,
    request: Request,
) -> ApiResult<Response> {
    let timelapse = me.app.timelapse(&me.caller, &id).await?;
    let served = ServeFile::new_with_mime(
        me.app.video_path(&timelapse),
        &timelapse
            .content_type
            .parse()
            .map_err(anyhow::Error::from)?,
    )
    .oneshot(request)
    .await
    .map_err(anyhow::Error::from)?;
    Ok(served.into_response())
}

#[utoipa::path(delete, path = "/api/timelapses/{id}", tag = "projects", security(("bearer" = []), ("cookie" = [])),
    responses((status = 204, description = "deleted"), (status = 403, body = ErrorBody)))]
async fn delete_timelapse(me: CurrentUser, PathId(id): PathId) -> ApiResult<StatusCode> {
    me.app.delete_timelapse(&me.caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
