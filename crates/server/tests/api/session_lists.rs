//! The active and upcoming lists: their order, and paging through them with
//! `limit` and `cursor` so that every session shows up exactly once.

use chrono::{Duration, Utc};
use serde_json::{Value, json};

use crate::harness::{Failures, TestApp, encode_query, id_of, ids, rfc3339};

both_backends!(
    active_list_pages_newest_first,
    upcoming_list_pages_soonest_first,
    list_parameters_are_checked,
);

async fn active_list_pages_newest_first(app: &TestApp) {
    let [ada, bob] = app.register_all(["Ada", "Bob"]).await;
    let mut created = Vec::new();
    for n in 0..7 {
        let creator = if n % 2 == 0 { &ada } else { &bob };
        let session = app
            .create_session(creator, json!({"title": format!("Active {n}")}))
            .await;
        created.push(id_of(&session));
    }
    // Neither a planned nor a finished session is active.
    app.scheduled_session(&ada, "Deep work", Duration::hours(1))
        .await;
    let finished = app.instant_session(&bob, 3).await;
    app.session_action(&bob, &id_of(&finished), "end")
        .await
        .expect(200);

    let newest_first: Vec<String> = created.iter().rev().cloned().collect();
    for limit in [1, 3, 7, 100] {
        let listed = app.all_sessions(&ada, "active", limit).await;
        assert_eq!(ids(&listed), newest_first, "active list with limit {limit}");
        assert!(listed.iter().all(|s| s["status"] == "active"));
    }

    let one_page = app
        .get_ok(&ada, "/api/sessions?status=active&limit=100")
        .await;
    assert_eq!(
        one_page["next_cursor"],
        Value::Null,
        "everything fits on one page"
    );
    let first_of_three = app
        .get_ok(&ada, "/api/sessions?status=active&limit=3")
        .await;
    assert!(
        first_of_three["next_cursor"].is_string(),
        "{first_of_three}"
    );
    assert_eq!(
        ids(first_of_three["sessions"].as_array().unwrap()),
        newest_first[..3]
    );

    // No status means the active list.
    let default = app.get_ok(&ada, "/api/sessions?limit=100").await;
    assert_eq!(default, one_page);
    let bare = app.get_ok(&ada, "/api/sessions").await;
    assert_eq!(ids(bare["sessions"].as_array().unwrap()), newest_first);

    // A session that ends between two pages drops out without disturbing the rest.
    let cursor = first_of_three["next_cursor"].as_str().unwrap();
    app.session_action(&ada, &newest_first[4], "end")
        .await
        .expect(200);
    let second = app
        .get_ok(
            &ada,
            &format!(
                "/api/sessions?status=active&limit=3&cursor={}",
                encode_query(cursor)
            ),
        )
        .await;
    assert_eq!(
        ids(second["sessions"].as_array().unwrap()),
        vec![
            newest_first[3].clone(),
            newest_first[5].clone(),
            newest_first[6].clone()
        ]
    );
}

async fn upcoming_list_pages_soonest_first(app: &TestApp) {
    let [ada, bob] = app.register_all(["Ada", "Bob"]).await;
    let now = Utc::now();
    // Created out of order, with two planned for the same instant.
    let hours = [5, 1, 3, 2, 4, 3, 30 * 24];
    let mut planned: Vec<(chrono::DateTime<Utc>, String)> = Vec::new();
    for (n, hours) in hours.into_iter().enumerate() {
        let creator = if n % 2 == 0 { &ada } else { &bob };
        let at = now + Duration::hours(hours);
        let session = app
            .create_session(
                creator,
                json!({"title": format!("Planned {n}"), "scheduled_start": rfc3339(at)}),
            )
            .await;
        assert_eq!(session["status"], "scheduled");
        planned.push((at, id_of(&session)));
    }
    app.instant_session(&ada, 3).await;

    let listed = app.all_sessions(&bob, "scheduled", 100).await;
    assert!(listed.iter().all(|s| s["status"] == "scheduled"));
    let listed_ids = ids(&listed);
    let mut expected = listed_ids.clone();
    expected.sort();
    let mut all_planned: Vec<String> = planned.iter().map(|(_, id)| id.clone()).collect();
    all_planned.sort();
    assert_eq!(expected, all_planned, "every planned session, once");
    // Soonest first; the two planned for the same time may come in either order, but together.
    let starts: Vec<i64> = listed_ids
        .iter()
        .map(|id| planned.iter().find(|(_, p)| p == id).unwrap().0.timestamp())
        .collect();
    let mut sorted = starts.clone();
    sorted.sort();
    assert_eq!(starts, sorted, "the upcoming list is soonest first");

    for limit in [1, 2, 3, 6] {
        let paged = app.all_sessions(&bob, "scheduled", limit).await;
        assert_eq!(ids(&paged), listed_ids, "upcoming list with limit {limit}");
    }

    // Starting one moves it to the active list.
    let soonest = listed_ids[0].clone();
    app.session_action(&bob, &soonest, "start")
        .await
        .expect(200);
    let upcoming = app.all_sessions(&bob, "scheduled", 2).await;
    assert_eq!(ids(&upcoming), listed_ids[1..]);
    let active = app.all_sessions(&bob, "active", 100).await;
    assert!(ids(&active).contains(&soonest));
}

async fn list_parameters_are_checked(app: &TestApp) {
    let ada = app.register("Ada").await;
    for n in 0..3 {
        app.create_session(&ada, json!({"title": format!("S{n}")}))
            .await;
    }
    let mut failures = Failures::default();
    for query in [
        "limit=0",
        "limit=101",
        "limit=-1",
        "limit=ten",
        "limit=",
        "status=active&limit=1.5",
    ] {
        let reply = app.get_as(&ada, &format!("/api/sessions?{query}")).await;
        failures.check(reply.check_error(400, "invalid", Some("limit")));
    }
    for cursor in ["garbage", "AAAA", "%00%01", "eyJ0IjoxfQ"] {
        let reply = app
            .get_as(
                &ada,
                &format!("/api/sessions?status=active&cursor={cursor}"),
            )
            .await;
        failures.check(reply.check_error(400, "invalid", Some("cursor")));
    }
    for status in ["finished", "ACTIVE_", "actives"] {
        let reply = app
            .get_as(&ada, &format!("/api/sessions?status={status}"))
            .await;
        failures.check(reply.check_error(400, "invalid", Some("status")));
    }
    failures.assert_none();
    let hundred = app
        .get_ok(&ada, "/api/sessions?status=active&limit=100")
        .await;
    assert_eq!(hundred["sessions"].as_array().unwrap().len(), 3);
    let one = app
        .get_ok(&ada, "/api/sessions?status=scheduled&limit=1")
        .await;
    assert_eq!(one, json!({"sessions": [], "next_cursor": null}));
    app.get("/api/sessions?status=active")
        .send()
        .await
        .expect_error(401, "unauthenticated");
}
