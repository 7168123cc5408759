//! Live queries follow the changes REST makes: participants, one session, the
//! session lists; with versions that agree across queries, and bursts coalesced.

use chrono::Duration as Minutes;
use serde_json::{Value, json};

use crate::client::{LiveClient, PATIENCE, joined_people, status_of};
use crate::harness::{Backend, id_of, spawn_app};

both_backends!(
    participants_follow_joins_and_leaves,
    ai_logs_follow_new_interactions,
    session_lists_follow_creation_start_and_end,
    a_burst_of_joins_is_coalesced,
);

/// `participants:` starts as the REST answer, then shows a join and a leave,
/// each once; a `session:` result with the same version agrees on the count.
async fn participants_follow_joins_and_leaves(backend: Backend) {
    let app = spawn_app(backend).await;
    let (ada, bob, id) = app.ada_hosts_bob().await;

    let mut live = LiveClient::connect(&app, &ada).await;
    let first = live.subscribed("p", &format!("participants:{id}")).await;
    assert_eq!(first["data"], json!(app.participants(&ada, &id).await));
    let first_session = live.subscribed("s", &format!("session:{id}")).await;
    assert_eq!(first_session["data"], app.session(&ada, &id).await);
    let mut participant_results = vec![first.clone()];
    let mut session_results = vec![first_session];

    app.join(&bob, &id).await.expect(200);
    let joined = live.until_status("p", &bob, "joined", PATIENCE).await;
    assert_eq!(joined["data"], json!(app.participants(&ada, &id).await));
    assert!(joined["version"].as_i64() > first["version"].as_i64());
    participant_results.push(joined.clone());
    session_results.push(
        live.next_result_matching("s", |data| data["participant_count"] == 2, PATIENCE)
            .await,
    );

    app.leave(&bob, &id).await.expect(200);
    let left = live.until_status("p", &bob, "left", PATIENCE).await;
    let bob_row = left["data"]
        .as_array()
        .and_then(|list| list.iter().find(|p| p["user_id"] == bob.id.as_str()))
        .expect("Bob is listed");
    assert!(bob_row["left_at"].is_string(), "{bob_row}");
    // Currently joined first, then those who left.
    assert_eq!(left["data"][0]["user_id"], ada.id.as_str(), "{left}");
    assert!(left["version"].as_i64() > joined["version"].as_i64());
    participant_results.push(left.clone());
    session_results.push(
        live.next_result_matching("s", |data| data["participant_count"] == 1, PATIENCE)
            .await,
    );

    // Nothing else changed after the leave, so both queries end on the same version.
    let last_session = session_results.last().expect("results");
    assert_eq!(
        last_session["version"], left["version"],
        "the last session result {last_session} and participants result {left} describe the same moment"
    );
    assert_versions_agree(&participant_results, &session_results);
    app.stop().await;
}

/// For every version seen on both `participants:` and `session:` results,
/// the count and the list agree; and the session's own `version` field is the result's.
#[track_caller]
pub fn assert_versions_agree(participant_results: &[Value], session_results: &[Value]) {
    for session in session_results {
        assert_eq!(
            session["data"]["version"], session["version"],
            "a session result whose data has another version: {session}"
        );
        for participants in participant_results {
            if participants["version"] == session["version"] {
                assert_eq!(
                    session["data"]["participant_count"].as_i64(),
                    Some(joined_people(&participants["data"])),
                    "same version {}, different moments:\n{session}\n{participants}",
                    session["version"]
                );
            }
        }
    }
}

/// `ai_logs:` shows a new interaction; it raises the session's version, yet
/// leaves the participants as they were, so `participants:` pushes nothing.
async fn ai_logs_follow_new_interactions(backend: Backend) {
    let app = spawn_app(backend).await;
    let (ada, bob, id) = app.ada_and_bob_in_session().await;
    let logs_path = format!("/api/sessions/{id}/ai-logs");

    let mut live = LiveClient::connect(&app, &ada).await;
    let first = live.subscribed("logs", &format!("ai_logs:{id}")).await;
    assert_eq!(first["data"], app.get_ok(&ada, &logs_path).await);
    let participants = live.subscribed("p", &format!("participants:{id}")).await;

    let logged = app
        .post_ai_log(&bob, &id, "What is a monad?", "A monoid in…")
        .await
        .expect(201);
    let pushed = live
        .next_result_matching(
            "logs",
            |data| data.as_array().is_some_and(|logs| logs.contains(&logged)),
            PATIENCE,
        )
        .await;
    assert_eq!(pushed["data"], app.get_ok(&ada, &logs_path).await);
    assert!(pushed["version"].as_i64() > participants["version"].as_i64());
    let others = live.arrived_for("p").await;
    assert!(
        others.is_empty(),
        "participants pushed for an AI log: {others:#?}"
    );
    app.stop().await;
}

/// `sessions:active` and `sessions:upcoming` move as sessions are created,
/// started and ended; their versions count pushes from 1.
async fn session_lists_follow_creation_start_and_end(backend: Backend) {
    let app = spawn_app(backend).await;
    let ada = app.register("Ada").await;
    let mut live = LiveClient::connect(&app, &ada).await;
    let active = live.subscribed("active", "sessions:active").await;
    assert_eq!(active["version"], 1);
    assert_eq!(
        active["data"],
        app.get_ok(&ada, "/api/sessions?status=active").await
    );
    let upcoming = live.subscribed("upcoming", "sessions:upcoming").await;
    assert_eq!(upcoming["version"], 1);
    assert_eq!(
        upcoming["data"],
        app.get_ok(&ada, "/api/sessions?status=scheduled").await
    );

    let instant = app.instant_session(&ada, 4).await;
    let instant_id = id_of(&instant);
    live.until_listed("active", "sessions", |ids| ids.contains(&instant_id))
        .await;
    app.session_action(&ada, &instant_id, "end")
        .await
        .expect(200);
    live.until_listed("active", "sessions", |ids| !ids.contains(&instant_id))
        .await;

    let planned = app
        .scheduled_session(&ada, "Exam prep", Minutes::hours(2))
        .await;
    let planned_id = id_of(&planned);
    let listed = live
        .until_listed("upcoming", "sessions", |ids| ids.contains(&planned_id))
        .await;
    assert_eq!(
        listed["data"],
        app.get_ok(&ada, "/api/sessions?status=scheduled").await
    );
    app.session_action(&ada, &planned_id, "start")
        .await
        .expect(200);
    live.until_listed("upcoming", "sessions", |ids| !ids.contains(&planned_id))
        .await;
    live.until_listed("active", "sessions", |ids| ids == [planned_id.clone()])
        .await;
    app.stop().await;
}

/// Ten joins at once: the subscriber ends on the full list, in fewer pushes than joins.
async fn a_burst_of_joins_is_coalesced(backend: Backend) {
    const JOINERS: usize = 10;
    let app = spawn_app(backend).await;
    let ada = app.register("Ada").await;
    let joiners = app.register_many("Joiner", JOINERS).await;
    let session = app.instant_session(&ada, 12).await;
    let id = id_of(&session);
    let mut live = LiveClient::connect(&app, &ada).await;
    let first = live.subscribed("p", &format!("participants:{id}")).await;
    assert_eq!(joined_people(&first["data"]), 1);

    for joined in
        futures::future::join_all(joiners.iter().map(|joiner| app.join(joiner, &id))).await
    {
        joined.expect(200);
    }

    let mut pushes = Vec::new();
    loop {
        let push = live.next_result("p", PATIENCE).await;
        let done = joined_people(&push["data"]) == 1 + JOINERS as i64;
        pushes.push(push);
        if done {
            break;
        }
    }
    let last = pushes.last().expect("a push");
    assert_eq!(last["data"], json!(app.participants(&ada, &id).await));
    for joiner in &joiners {
        assert_eq!(status_of(&last["data"], joiner), Some("joined"));
    }
    // The data no longer changes, so nothing more may come.
    let after = live.arrived_for("p").await;
    assert!(after.is_empty(), "pushes after the final state: {after:#?}");
    // One push per join would make 11 messages with the first result: coalescing must save some.
    assert!(
        pushes.len() < JOINERS,
        "{} pushes for a burst of {JOINERS} joins (plus the first result): {:#?}",
        pushes.len(),
        pushes
            .iter()
            .map(|push| (push["version"].clone(), joined_people(&push["data"])))
            .collect::<Vec<_>>()
    );
    app.stop().await;
}
