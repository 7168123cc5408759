//! Racing requests. A join against `max_participants` is one transaction, so N
//! people racing for the last seats get exactly that many; the same holds for
//! repeated joins, leaves, starts and ends racing each other.

use futures::future::join_all;
use serde_json::{Value, json};

use crate::harness::{Reply, TestApp, id_of};

both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    fifty_people_race_for_three_seats,
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    one_person_joining_many_times_at_once_takes_one_seat,
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    racing_leaves_free_one_seat,
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    racing_starts_and_ends_happen_once,
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    nobody_writes_to_a_room_after_leaving_it,
);

/// Splits answers into the 200s and the rest, which must all be 409 `conflict`.
fn successes_and_conflicts(replies: Vec<Reply>) -> (Vec<Value>, usize) {
    let mut successes = Vec::new();
    let mut conflicts = 0;
    for reply in replies {
        if reply.status.as_u16() == 200 {
            successes.push(reply.expect(200));
        } else {
            reply.expect_error(409, "conflict");
            conflicts += 1;
        }
    }
    (successes, conflicts)
}

async fn fifty_people_race_for_three_seats(app: &TestApp) {
    let host = app.register("Host").await;
    let racers = app.register_many("Racer", 50).await;
    let session = app.instant_session(&host, 4).await;
    let id = id_of(&session);
    assert_eq!(
        session["participant_count"], 1,
        "the host holds one of the 4 seats"
    );

    let replies = join_all(racers.iter().map(|racer| app.join(racer, &id))).await;
    let (seated, refused) = successes_and_conflicts(replies);
    assert_eq!(seated.len(), 3, "exactly the 3 free seats are taken");
    assert_eq!(refused, 47);

    let after = app.session(&host, &id).await;
    assert_eq!(after["participant_count"], 4);
    let people = app.participants(&host, &id).await;
    assert_eq!(people.len(), 4, "{people:?}");
    assert!(people.iter().all(|p| p["status"] == "joined"));
    let mut listed: Vec<&str> = people
        .iter()
        .map(|p| p["user_id"].as_str().unwrap())
        .collect();
    listed.sort();
    let mut expected: Vec<&str> = seated
        .iter()
        .map(|p| p["user_id"].as_str().unwrap())
        .chain([host.id.as_str()])
        .collect();
    expected.sort();
    assert_eq!(
        listed, expected,
        "the seated are the ones told 200, plus the host"
    );
}

async fn one_person_joining_many_times_at_once_takes_one_seat(app: &TestApp) {
    let [host, eager] = app.register_all(["Host", "Eager"]).await;
    let session = app.instant_session(&host, 3).await;
    let id = id_of(&session);
    let replies = join_all((0..12).map(|_| app.join(&eager, &id))).await;
    for reply in replies {
        let participant = reply.expect(200);
        assert_eq!(participant["user_id"], eager.id.as_str());
        assert_eq!(participant["status"], "joined");
    }
    assert_eq!(app.session(&host, &id).await["participant_count"], 2);
    assert_eq!(app.participants(&host, &id).await.len(), 2);
}

async fn racing_leaves_free_one_seat(app: &TestApp) {
    let host = app.register("Host").await;
    let guests = app.register_many("Guest", 2).await;
    let id = app.hosted_session(&host, 3, &guests).await;
    let replies = join_all((0..12).map(|_| app.session_action(&guests[0], &id, "leave"))).await;
    for reply in replies {
        assert_eq!(reply.expect(200)["status"], "left");
    }
    assert_eq!(app.session(&host, &id).await["participant_count"], 2);
    // Exactly one seat is free again: one more person fits, then it is full.
    let late = app.register_many("Late", 2).await;
    let replies = join_all(late.iter().map(|person| app.join(person, &id))).await;
    let (seated, refused) = successes_and_conflicts(replies);
    assert_eq!((seated.len(), refused), (1, 1));
    assert_eq!(app.session(&host, &id).await["participant_count"], 3);
}

async fn racing_starts_and_ends_happen_once(app: &TestApp) {
    let host = app.register("Host").await;
    let session = app
        .scheduled_session(&host, "Deep work", chrono::Duration::hours(1))
        .await;
    let id = id_of(&session);
    let starts = join_all((0..8).map(|_| app.session_action(&host, &id, "start"))).await;
    let (started, refused) = successes_and_conflicts(starts);
    assert_eq!((started.len(), refused), (1, 7), "one start wins");
    let now = app.session(&host, &id).await;
    assert_eq!(now["status"], "active");
    assert_eq!(now["participant_count"], 1, "the host joined once");
    assert_eq!(app.participants(&host, &id).await.len(), 1);

    let ends = join_all((0..8).map(|_| app.session_action(&host, &id, "end"))).await;
    let (ended, refused) = successes_and_conflicts(ends);
    assert_eq!((ended.len(), refused), (1, 7), "one end wins");
    let after = app.session(&host, &id).await;
    assert_eq!(after["status"], "ended");
    assert_eq!(after["participant_count"], 0);
    assert_eq!(
        after["ended_at"], ended[0]["ended_at"],
        "ended once, at one time"
    );
}

/// A leave races chat posts and AI log entries by the person leaving. Whatever
/// the order the server took them in, every write it accepted was made while
/// the person still held their seat: none is dated after their leave, and
/// every refusal is a 403.
async fn nobody_writes_to_a_room_after_leaving_it(app: &TestApp) {
    let host = app.register("Host").await;
    let people = app.register_many("Leaver", 8).await;
    let id = app.hosted_session(&host, 10, &people).await;
    let id = id.as_str();
    let races = people.iter().map(|person| async move {
        let writes = (0..4).map(|round| async move {
            if round % 2 == 0 {
                app.post_as(
                    person,
                    &format!("/api/sessions/{id}/messages"),
                    &json!({"body": format!("message {round}")}),
                )
                .await
            } else {
                app.post_as(
                    person,
                    &format!("/api/sessions/{id}/ai-logs"),
                    &json!({"question": format!("question {round}"), "answer": "an answer"}),
                )
                .await
            }
        });
        let (left, written) =
            tokio::join!(app.session_action(person, id, "leave"), join_all(writes));
        left.expect(200);
        written
    });
    let mut accepted = 0;
    for reply in join_all(races).await.into_iter().flatten() {
        if reply.status.as_u16() == 201 {
            accepted += 1;
        } else {
            reply.expect_error(403, "forbidden");
        }
    }
    let participants = app.participants(&host, id).await;
    let left_at = |user_id: &str| {
        let seat = participants
            .iter()
            .find(|p| p["user_id"] == user_id)
            .unwrap_or_else(|| panic!("{user_id} is not among the participants"));
        assert_eq!(seat["status"], "left", "{seat}");
        crate::harness::timestamp(&seat["left_at"])
    };
    let messages = app
        .get_ok(&host, &format!("/api/sessions/{id}/messages?limit=100"))
        .await["messages"]
        .as_array()
        .expect("a list of messages")
        .clone();
    let logs = app.session_logs(&host, id).await;
    assert_eq!(messages.len() + logs.len(), accepted);
    for write in messages.iter().chain(&logs) {
        let author = write["user_id"].as_str().expect("an author");
        assert!(
            crate::harness::timestamp(&write["created_at"]) <= left_at(author),
            "written after its author left: {write}"
        );
    }
}
