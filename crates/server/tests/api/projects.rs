//! Projects: their fields, who sees them (the owner, and anyone joined to an
//! active session linked to one, while they are in it), who may change or
//! link them, who watches their timelapses, and what deleting does.

use serde_json::{Value, json};

use crate::harness::{TestApp, User, id_of, ids, refuses_each, timestamp};

both_backends!(
    creates_and_lists_own_projects,
    project_fields_are_checked,
    projects_are_seen_by_owner_and_the_people_in_their_sessions,
    patch_changes_only_the_fields_sent,
    only_the_owner_changes_or_deletes,
    deleting_a_project_unlinks_its_sessions,
    only_the_owner_links_a_project,
    timelapses_are_the_owners_unless_shared,
);

/// Room for three `MP4_HEAD` videos.
const SMALL_QUOTA: u64 = 3 * MP4_HEAD.len() as u64;

both_backends_with!(
    |config: &mut server::Config| config.upload_quota_per_person = super::SMALL_QUOTA,
    uploads_stop_at_the_quota,
);

both_backends_with!(
    |config: &mut server::Config| config.upload_quota_per_person = super::MP4_HEAD.len() as u64,
    an_upload_racing_another_for_the_last_of_the_quota_is_refused,
);

both_backends_with!(
    |config: &mut server::Config| config.min_free_space = u64::MAX,
    uploads_leave_the_disk_its_free_space,
);

async fn creates_and_lists_own_projects(app: &TestApp) {
    let [ada, bob] = app.register_all(["Ada", "Bob"]).await;
    let engine = app
        .create_project(
            &ada,
            json!({
                "name": "  Analytical Engine ",
                "description": "Notes on the engine",
                "repo_url": "https://github.com/ada/engine",
                "tech_stack": ["Rust", "rust", "axum", "RUST", "SQLx", "sqlx"],
            }),
        )
        .await;
    assert_eq!(engine["name"], "Analytical Engine");
    assert_eq!(engine["owner_id"], ada.id.as_str());
    assert_eq!(engine["description"], "Notes on the engine");
    assert_eq!(engine["repo_url"], "https://github.com/ada/engine");
    assert_eq!(
        engine["tech_stack"],
        json!(["Rust", "axum", "SQLx"]),
        "duplicates are dropped whatever their case, the first spelling kept"
    );
    assert!(uuid::Uuid::parse_str(engine["id"].as_str().unwrap()).is_ok());
    timestamp(&engine["created_at"]);

    let bare = app.create_project(&ada, json!({"name": "Notes"})).await;
    assert_eq!(bare["description"], Value::Null);
    assert_eq!(bare["repo_url"], Value::Null);
    assert_eq!(bare["tech_stack"], json!([]));
    let bobs = app.create_project(&bob, json!({"name": "Bob's"})).await;

    let mine = app.get_ok(&ada, "/api/projects").await;
    let mine = mine.as_array().expect("a list");
    let mut listed = ids(mine);
    listed.sort();
    let mut expected = vec![id_of(&engine), id_of(&bare)];
    expected.sort();
    assert_eq!(listed, expected, "GET /api/projects lists my projects only");
    assert!(!ids(mine).contains(&id_of(&bobs)));

    assert_eq!(app.project(&ada, &id_of(&engine)).await, engine);
    let bob_list = app.get_ok(&bob, "/api/projects").await;
    assert_eq!(ids(bob_list.as_array().unwrap()), vec![id_of(&bobs)]);
}

async fn project_fields_are_checked(app: &TestApp) {
    let ada = app.register("Ada").await;
    let before = app.get_ok(&ada, "/api/projects").await;
    let too_many: Vec<String> = (0..21).map(|n| format!("tool{n}")).collect();
    let cases = [
        (
            json!({"name": "P", "repo_url": "javascript:alert(1)"}),
            "repo_url",
        ),
        (
            json!({"name": "P", "repo_url": "ftp://example.com/repo"}),
            "repo_url",
        ),
        (json!({"name": "P", "repo_url": "not a url"}), "repo_url"),
        (json!({"name": "P", "repo_url": 7}), "repo_url"),
        (json!({"name": "P", "tech_stack": too_many}), "tech_stack"),
        (
            json!({"name": "P", "tech_stack": ["rust", ""]}),
            "tech_stack",
        ),
        (
            json!({"name": "P", "tech_stack": ["rust", "  "]}),
            "tech_stack",
        ),
        (
            json!({"name": "P", "tech_stack": ["x".repeat(41)]}),
            "tech_stack",
        ),
        (json!({"name": "P", "tech_stack": "rust"}), "tech_stack"),
        (json!({"name": "P", "tech_stack": [1, 2]}), "tech_stack"),
        (json!({"name": ""}), "name"),
        (json!({"name": "   "}), "name"),
        (json!({"name": "n".repeat(101)}), "name"),
        (json!({"description": "no name"}), "name"),
        (
            json!({"name": "P", "description": "d".repeat(2001)}),
            "description",
        ),
        (json!({"name": "P", "owner_id": ada.id}), "owner_id"),
    ];
    refuses_each(|| app.post("/api/projects").auth(&ada), cases).await;
    let after = app.get_ok(&ada, "/api/projects").await;
    assert_eq!(before, after, "refused creates made nothing");

    // The limits themselves are allowed.
    let mut twenty: Vec<String> = (1..20).map(|n| format!("tool{n}")).collect();
    twenty.push("x".repeat(40));
    let edge = app
        .create_project(
            &ada,
            json!({"name": "n".repeat(100), "repo_url": "http://example.com/x", "tech_stack": twenty}),
        )
        .await;
    assert_eq!(edge["tech_stack"].as_array().unwrap().len(), 20);
    assert_eq!(edge["tech_stack"][19], "x".repeat(40));
}

/// `ada` owns a project linked to an instant session `bob` joins; `carol` is a stranger.
async fn project_visibility_setup(
    app: &TestApp,
) -> (
    crate::harness::User,
    crate::harness::User,
    crate::harness::User,
    Value,
    Value,
) {
    let [ada, bob, carol] = app.register_all(["Ada", "Bob", "Carol"]).await;
    let project = app
        .create_project(
            &ada,
            json!({"name": "Engine", "description": "d", "repo_url": "https://example.com/e", "tech_stack": ["rust"]}),
        )
        .await;
    let session = app
        .create_session(&ada, json!({"project_id": id_of(&project)}))
        .await;
    app.join(&bob, &id_of(&session)).await.expect(200);
    (ada, bob, carol, project, session)
}

async fn projects_are_seen_by_owner_and_the_people_in_their_sessions(app: &TestApp) {
    let (ada, bob, carol, project, session) = project_visibility_setup(app).await;
    let project_id = id_of(&project);
    let path = format!("/api/projects/{project_id}");
    assert_eq!(app.project(&ada, &project_id).await, project);
    assert_eq!(app.project(&bob, &project_id).await, project);
    app.get_as(&carol, &path)
        .await
        .expect_error(404, "not_found");

    // Having been in a session gives no lasting access: once Bob leaves, the
    // project is gone for him, and back while he is in it again.
    app.session_action(&bob, &id_of(&session), "leave")
        .await
        .expect(200);
    app.get_as(&bob, &path).await.expect_error(404, "not_found");
    app.join(&bob, &id_of(&session)).await.expect(200);
    assert_eq!(app.project(&bob, &project_id).await, project);
    app.session_action(&ada, &id_of(&session), "end")
        .await
        .expect(200);
    for stranger in [&bob, &carol] {
        app.get_as(stranger, &path)
            .await
            .expect_error(404, "not_found");
    }
    assert_eq!(app.project(&ada, &project_id).await, project);

    // Seeing a project does not make it mine.
    let bobs = app.get_ok(&bob, "/api/projects").await;
    assert_eq!(bobs, json!([]));
}

async fn patch_changes_only_the_fields_sent(app: &TestApp) {
    let ada = app.register("Ada").await;
    let project = app
        .create_project(
            &ada,
            json!({"name": "Engine", "description": "Gears", "repo_url": "https://example.com/e", "tech_stack": ["rust", "axum"]}),
        )
        .await;
    let path = format!("/api/projects/{}", id_of(&project));
    let patch = |body: Value| {
        let path = path.clone();
        let ada = ada.clone();
        async move { app.patch_as(&ada, &path, &body).await.expect(200) }
    };

    let unchanged = patch(json!({})).await;
    assert_eq!(unchanged, project, "an empty PATCH changes nothing");

    let renamed = patch(json!({"name": " Difference Engine "})).await;
    let mut expected = project.clone();
    expected["name"] = json!("Difference Engine");
    assert_eq!(renamed, expected);

    let cleared = patch(json!({"description": null})).await;
    expected["description"] = Value::Null;
    assert_eq!(
        cleared, expected,
        "null clears the description, the rest stays"
    );

    let no_repo = patch(json!({"repo_url": ""})).await;
    expected["repo_url"] = Value::Null;
    assert_eq!(no_repo, expected, "an empty repo_url clears it");

    let restacked = patch(json!({"tech_stack": ["Go", "go", "sqlite"], "description": "Cogs", "repo_url": "http://example.com/d"})).await;
    expected["tech_stack"] = json!(["Go", "sqlite"]);
    expected["description"] = json!("Cogs");
    expected["repo_url"] = json!("http://example.com/d");
    assert_eq!(restacked, expected);

    let cleared_by_empty = patch(json!({"description": ""})).await;
    expected["description"] = Value::Null;
    assert_eq!(cleared_by_empty, expected, "an empty description clears it");

    let repo_null = patch(json!({"repo_url": null})).await;
    expected["repo_url"] = Value::Null;
    assert_eq!(repo_null, expected, "null clears repo_url");

    refuses_each(
        || app.patch(&path).auth(&ada),
        [
            (json!({"repo_url": "javascript:alert(1)"}), "repo_url"),
            (json!({"name": ""}), "name"),
            (json!({"tech_stack": ["ok", ""]}), "tech_stack"),
            (json!({"owner_id": ada.id}), "owner_id"),
            (json!({"name": 5}), "name"),
        ],
    )
    .await;
    assert_eq!(
        app.project(&ada, &id_of(&project)).await,
        expected,
        "refused patches changed nothing"
    );

    app.patch_as(&ada, "/api/projects/not-an-id", &json!({"name": "x"}))
        .await
        .expect_field_error(400, "invalid", "id");
    app.patch_as(
        &ada,
        &format!("/api/projects/{}", uuid::Uuid::new_v4()),
        &json!({"name": "x"}),
    )
    .await
    .expect_error(404, "not_found");
}

async fn only_the_owner_changes_or_deletes(app: &TestApp) {
    let (ada, bob, carol, project, _session) = project_visibility_setup(app).await;
    let path = format!("/api/projects/{}", id_of(&project));
    // Bob, who may see it, may not change it; a stranger is not even told it exists.
    for (intruder, status, code) in [(&bob, 403, "forbidden"), (&carol, 404, "not_found")] {
        app.patch_as(intruder, &path, &json!({"name": "Hijacked"}))
            .await
            .expect_error(status, code);
        app.delete_as(intruder, &path)
            .await
            .expect_error(status, code);
    }
    assert_eq!(app.project(&ada, &id_of(&project)).await, project);

    app.delete_as(&ada, &path).await.expect(204);
    app.get_as(&ada, &path).await.expect_error(404, "not_found");
    app.delete_as(&ada, &path)
        .await
        .expect_error(404, "not_found");
    app.delete_as(&ada, "/api/projects/42")
        .await
        .expect_field_error(400, "invalid", "id");
}

async fn deleting_a_project_unlinks_its_sessions(app: &TestApp) {
    let (ada, bob, _carol, project, session) = project_visibility_setup(app).await;
    let scheduled = app
        .create_session(
            &ada,
            json!({"project_id": id_of(&project), "scheduled_start": crate::harness::rfc3339(chrono::Utc::now() + chrono::Duration::hours(3))}),
        )
        .await;
    assert_eq!(scheduled["project_id"], project["id"]);
    assert_eq!(session["project_id"], project["id"]);

    app.delete_as(&ada, &format!("/api/projects/{}", id_of(&project)))
        .await
        .expect(204);
    for linked in [&session, &scheduled] {
        let now = app.session(&bob, &id_of(linked)).await;
        assert_eq!(now["project_id"], Value::Null, "{now}");
        assert_eq!(now["status"], linked["status"], "only the link changed");
        assert_eq!(now["title"], linked["title"]);
    }
    let participants = app.participants(&ada, &id_of(&session)).await;
    assert_eq!(participants.len(), 2, "the session keeps its people");
    let projects = app.get_ok(&ada, "/api/projects").await;
    assert_eq!(projects, json!([]));
}

async fn only_the_owner_links_a_project(app: &TestApp) {
    let (ada, bob, carol, project, _session) = project_visibility_setup(app).await;
    let project_id = id_of(&project);
    let before = app.sessions_snapshot(&ada).await;
    // Bob sees the project through the session he is in, but may not pass it on.
    for (who, project_ref) in [
        (&bob, json!(project_id)),
        (&carol, json!(project_id)),
        (&ada, json!(uuid::Uuid::new_v4().to_string())),
        (&ada, json!("not-a-uuid")),
        (&ada, json!(17)),
    ] {
        app.post_as(
            who,
            "/api/sessions",
            &crate::harness::session_body(json!({"project_id": project_ref})),
        )
        .await
        .expect_field_error(400, "invalid", "project_id");
    }
    assert_eq!(app.sessions_snapshot(&ada).await, before);
    assert_eq!(app.project(&bob, &project_id).await, project);

    let adas = app
        .create_session(&ada, json!({"project_id": project_id}))
        .await;
    assert_eq!(adas["project_id"], project_id.as_str());
    let explicit_null = app
        .create_session(&carol, json!({"title": "No project"}))
        .await;
    assert_eq!(explicit_null["project_id"], Value::Null);
}

/// Bytes that open like an MP4 file: enough for the upload's signature check.
const MP4_HEAD: &[u8] = b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom";

async fn timelapses_are_the_owners_unless_shared(app: &TestApp) {
    let (ada, bob, carol, project, _session) = project_visibility_setup(app).await;
    let project_id = id_of(&project);
    assert_eq!(project["timelapses_shared"], false);
    let uploaded = app
        .post(&format!(
            "/api/projects/{project_id}/timelapses?name=day-one.mp4"
        ))
        .auth(&ada)
        .raw(Some("video/mp4"), MP4_HEAD.to_vec())
        .send()
        .await
        .expect(201);
    let list = format!("/api/projects/{project_id}/timelapses");
    let video = format!("/api/timelapses/{}/video", id_of(&uploaded));
    assert_eq!(app.get_ok(&ada, &list).await, json!([uploaded]));
    assert_eq!(app.get_as(&ada, &video).await.status, 200);

    // Bob is in a session of the project: he sees it, not its videos.
    app.get_as(&bob, &list).await.expect_error(403, "forbidden");
    app.get_as(&bob, &video)
        .await
        .expect_error(404, "not_found");
    // Nor may he upload.
    app.post(&format!(
        "/api/projects/{project_id}/timelapses?name=mine.mp4"
    ))
    .auth(&bob)
    .raw(Some("video/mp4"), MP4_HEAD.to_vec())
    .send()
    .await
    .expect_error(403, "forbidden");

    let shared = app
        .patch_as(
            &ada,
            &format!("/api/projects/{project_id}"),
            &json!({"timelapses_shared": true}),
        )
        .await
        .expect(200);
    assert_eq!(shared["timelapses_shared"], true);
    assert_eq!(app.get_ok(&bob, &list).await, json!([uploaded]));
    assert_eq!(app.get_as(&bob, &video).await.status, 200);
    // Sharing is with the people in its sessions, not with everyone.
    app.get_as(&carol, &video)
        .await
        .expect_error(404, "not_found");

    // A deleted project takes its videos with it, files included.
    let file = app
        .data_dir()
        .join("timelapses")
        .join(format!("{}.mp4", id_of(&uploaded)));
    assert!(file.exists(), "{} was not written", file.display());
    app.delete_as(&ada, &format!("/api/projects/{project_id}"))
        .await
        .expect(204);
    assert!(!file.exists(), "{} outlived its project", file.display());
}

/// Uploads `MP4_HEAD` to a project as `uploader`.
async fn upload(app: &TestApp, uploader: &User, project_id: &str) -> crate::harness::Reply {
    app.post(&format!(
        "/api/projects/{project_id}/timelapses?name=clip.mp4"
    ))
    .auth(uploader)
    .raw(Some("video/mp4"), MP4_HEAD.to_vec())
    .send()
    .await
}

/// The files in the videos' directory, partial ones included.
fn video_files(app: &TestApp) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(app.data_dir().join("timelapses")) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The videos a project lists.
async fn listed(app: &TestApp, owner: &User, project_id: &str) -> usize {
    app.get(&format!("/api/projects/{project_id}/timelapses"))
        .auth(owner)
        .send()
        .await
        .expect(200)
        .as_array()
        .map_or(0, Vec::len)
}

/// One person's videos, all projects together, stay within the quota: the
/// upload past it is refused with 413 and leaves no file and no record;
/// deleting a video makes room again. Another person's quota is their own.
async fn uploads_stop_at_the_quota(app: &TestApp) {
    let ada = app.register("Ada").await;
    let bob = app.register("Bob").await;
    let engine = id_of(&app.create_project(&ada, json!({"name": "Engine"})).await);
    let notes = id_of(&app.create_project(&ada, json!({"name": "Notes"})).await);
    let first = upload(app, &ada, &engine).await.expect(201);
    upload(app, &ada, &engine).await.expect(201);
    upload(app, &ada, &notes).await.expect(201);
    let files = video_files(app);
    assert_eq!(files.len(), 3, "{files:?}");

    for project in [&engine, &notes] {
        let refused = upload(app, &ada, project)
            .await
            .expect_error(413, "too_large");
        let message = refused["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("quota"), "{message}");
    }
    assert_eq!(video_files(app), files, "a refused upload left a file");
    assert_eq!(listed(app, &ada, &engine).await, 2);
    assert_eq!(listed(app, &ada, &notes).await, 1);

    let bobs = id_of(&app.create_project(&bob, json!({"name": "Bob's"})).await);
    upload(app, &bob, &bobs).await.expect(201);

    app.delete(&format!("/api/timelapses/{}", id_of(&first)))
        .auth(&ada)
        .send()
        .await
        .expect(204);
    upload(app, &ada, &notes).await.expect(201);
    upload(app, &ada, &notes)
        .await
        .expect_error(413, "too_large");
}

/// Reads one answer's head, up to its blank line.
async fn read_head(stream: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let byte = stream.read_u8().await.unwrap_or_else(|error| {
            panic!(
                "the server closed the connection ({error}) after {:?}",
                String::from_utf8_lossy(&head)
            )
        });
        head.push(byte);
    }
    String::from_utf8(head).expect("an HTTP head is text")
}

/// The quota is decided again when a video is recorded, under the uploader's
/// lock: an upload let in while there was room, whose bytes arrive after
/// another upload took that room, is refused and leaves nothing behind.
async fn an_upload_racing_another_for_the_last_of_the_quota_is_refused(app: &TestApp) {
    use tokio::io::AsyncWriteExt;
    let ada = app.register("Ada").await;
    let project_id = id_of(&app.create_project(&ada, json!({"name": "Engine"})).await);

    // The first upload asks `Expect: 100-continue`: the server answers
    // `100 Continue` once its checks let the upload in and it reads the body.
    let host = app.address.trim_start_matches("http://");
    let mut first = tokio::net::TcpStream::connect(host).await.unwrap();
    let head = format!(
        "POST /api/projects/{project_id}/timelapses?name=first.mp4 HTTP/1.1\r\n\
         Host: {host}\r\nAuthorization: Bearer {}\r\nContent-Type: video/mp4\r\n\
         Content-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        ada.token,
        MP4_HEAD.len()
    );
    first.write_all(head.as_bytes()).await.unwrap();
    let let_in = read_head(&mut first).await;
    assert!(let_in.starts_with("HTTP/1.1 100"), "{let_in}");

    // Meanwhile a second upload takes the whole quota.
    let second = upload(app, &ada, &project_id).await.expect(201);

    first.write_all(MP4_HEAD).await.unwrap();
    let answer = read_head(&mut first).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert_eq!(
        video_files(app),
        [format!("{}.mp4", id_of(&second))],
        "the refused upload left a file"
    );
    assert_eq!(listed(app, &ada, &project_id).await, 1);
}

/// An upload that would leave the disk less than `--min-free-space` is
/// refused with 507 before a byte is written.
async fn uploads_leave_the_disk_its_free_space(app: &TestApp) {
    let ada = app.register("Ada").await;
    let project_id = id_of(&app.create_project(&ada, json!({"name": "Engine"})).await);
    upload(app, &ada, &project_id)
        .await
        .expect_error(507, "insufficient_storage");
    assert_eq!(video_files(app), Vec::<String>::new());
    assert_eq!(listed(app, &ada, &project_id).await, 0);
}
