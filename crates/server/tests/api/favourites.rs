//! Favourites over HTTP (docs/RITUAL.md, "Favourites"): marking and
//! unmarking the people one likes to focus with, the refusals that change
//! nothing, the notification a favourite's newly scheduled session becomes,
//! and the sessions with favourites listed first.

use chrono::Duration;
use serde_json::{Value, json};

use crate::harness::{TestApp, User, id_of};

both_backends!(
    marking_is_listed_and_unmarking_forgets,
    marking_and_unmarking_twice_is_harmless,
    bad_marks_are_refused_and_change_nothing,
    nobody_keeps_more_than_the_cap,
    a_favourite_scheduling_notifies_whoever_keeps_them,
    sessions_with_favourites_are_listed_on_their_own,
    the_home_page_lists_sessions_with_favourites_first,
);

fn favourite_path(who: &User) -> String {
    format!("/api/me/favourites/{}", who.id)
}

async fn mark(app: &TestApp, keeper: &User, marked: &User) -> Value {
    app.put(&favourite_path(marked))
        .auth(keeper)
        .send()
        .await
        .expect(200)
}

async fn favourites(app: &TestApp, keeper: &User) -> Vec<Value> {
    match app.get_ok(keeper, "/api/me/favourites").await {
        Value::Array(items) => items,
        other => panic!("expected a list of favourites, got {other}"),
    }
}

fn names(favourites: &[Value]) -> Vec<&str> {
    favourites
        .iter()
        .map(|favourite| favourite["name"].as_str().expect("a name"))
        .collect()
}

/// The sessions of one list (`active` or `scheduled`) with `viewer`'s
/// favourites, by title.
async fn titles_with_favourites(app: &TestApp, viewer: &User, status: &str) -> Vec<String> {
    let path = format!("/api/sessions?status={status}&with=favourites");
    titles(&app.get_ok(viewer, &path).await["sessions"])
}

fn titles(sessions: &Value) -> Vec<String> {
    sessions
        .as_array()
        .expect("a list of sessions")
        .iter()
        .map(|session| session["title"].as_str().expect("a title").to_owned())
        .collect()
}

/// `user`'s notifications of a favourite's scheduling.
async fn favourite_notices(app: &TestApp, user: &User) -> Vec<Value> {
    app.notifications(user)
        .await
        .as_array()
        .expect("a list of notifications")
        .iter()
        .filter(|notification| notification["kind"] == "favourite_scheduled")
        .cloned()
        .collect()
}

async fn marking_is_listed_and_unmarking_forgets(app: &TestApp) {
    let [ada, bob, cyd] = app.register_all(["Ada", "Bob", "Cyd"]).await;
    assert!(favourites(app, &bob).await.is_empty());

    let marked = mark(app, &bob, &ada).await;
    assert_eq!(marked["user_id"], ada.id.as_str());
    assert_eq!(marked["name"], "Ada");
    crate::harness::timestamp(&marked["since"]);
    mark(app, &bob, &cyd).await;
    // The latest first.
    assert_eq!(names(&favourites(app, &bob).await), ["Cyd", "Ada"]);
    // Marks are each person's own.
    assert!(favourites(app, &ada).await.is_empty());

    app.delete_as(&bob, &favourite_path(&ada)).await.expect(204);
    assert_eq!(names(&favourites(app, &bob).await), ["Cyd"]);
}

async fn marking_and_unmarking_twice_is_harmless(app: &TestApp) {
    let [ada, bob] = app.register_all(["Ada", "Bob"]).await;
    let first = mark(app, &bob, &ada).await;
    let again = mark(app, &bob, &ada).await;
    // The first mark stays, with its date.
    assert_eq!(again, first);
    assert_eq!(favourites(app, &bob).await, [first]);

    app.delete_as(&bob, &favourite_path(&ada)).await.expect(204);
    app.delete_as(&bob, &favourite_path(&ada)).await.expect(204);
    assert!(favourites(app, &bob).await.is_empty());
}

async fn bad_marks_are_refused_and_change_nothing(app: &TestApp) {
    let [ada, bob] = app.register_all(["Ada", "Bob"]).await;
    mark(app, &bob, &ada).await;
    let before = favourites(app, &bob).await;
    // The assistant as people meet it: in the room of a session it serves.
    let room = id_of(&app.instant_session(&ada, 4).await);
    let seat = app.agent_action(&room, "join", None).await.expect(200);
    let assistant = User {
        id: seat["user_id"]
            .as_str()
            .expect("the assistant's id")
            .to_owned(),
        email: String::new(),
        name: "Lock In Assistant".into(),
        token: String::new(),
    };
    let nobody = format!("/api/me/favourites/{}", uuid::Uuid::new_v4());

    for path in [favourite_path(&bob), favourite_path(&assistant)] {
        app.put(&path)
            .auth(&bob)
            .send()
            .await
            .expect_field_error(400, "invalid", "user_id");
        app.delete_as(&bob, &path)
            .await
            .expect_field_error(400, "invalid", "user_id");
    }
    app.put(&nobody)
        .auth(&bob)
        .send()
        .await
        .expect_error(404, "not_found");
    app.delete_as(&bob, &nobody)
        .await
        .expect_error(404, "not_found");
    app.put("/api/me/favourites/not-an-id")
        .auth(&bob)
        .send()
        .await
        .expect_error(400, "invalid");
    // The assistant keeps no favourites (its token opens only `/internal`),
    // and nobody keeps any without signing in.
    for call in [
        app.put(&favourite_path(&ada)).auth(&app.agent_token),
        app.put(&favourite_path(&ada)),
    ] {
        call.send().await.expect_error(401, "unauthenticated");
    }

    assert_eq!(favourites(app, &bob).await, before);
}

/// Gives `keeper` `count` favourites straight in the database: signing up
/// that many people over HTTP would spend minutes hashing passwords.
async fn keep_many(app: &TestApp, keeper: &User, count: usize) {
    sqlx::any::install_default_drivers();
    let database = sqlx::AnyPool::connect(app.database_url())
        .await
        .expect("the test database");
    let mut tx = database.begin().await.expect("a transaction");
    for n in 0..count {
        let id = uuid::Uuid::new_v4().to_string();
        sqlx::query(
            "INSERT INTO users (id, email, name, password_hash, created_at) VALUES ($1, $2, $3, '!', 0)",
        )
        .bind(&id)
        .bind(format!("{id}@example.com"))
        .bind(format!("Kept {n}"))
        .execute(&mut *tx)
        .await
        .expect("a person");
        sqlx::query(
            "INSERT INTO favourites (user_id, favourite_id, created_at) VALUES ($1, $2, 0)",
        )
        .bind(&keeper.id)
        .bind(&id)
        .execute(&mut *tx)
        .await
        .expect("a favourite");
    }
    tx.commit().await.expect("committed");
    database.close().await;
}

async fn nobody_keeps_more_than_the_cap(app: &TestApp) {
    let [ada, bob, cyd] = app.register_all(["Ada", "Bob", "Cyd"]).await;
    keep_many(app, &bob, 498).await;
    mark(app, &bob, &ada).await;
    // The 500th is kept; the 501st is refused and nothing changes.
    assert_eq!(favourites(app, &bob).await.len(), 499);
    mark(app, &bob, &cyd).await;
    let dan = app.register("Dan").await;
    app.put(&favourite_path(&dan))
        .auth(&bob)
        .send()
        .await
        .expect_error(409, "conflict");
    let kept = favourites(app, &bob).await;
    assert_eq!(kept.len(), 500);
    assert!(
        kept.iter()
            .all(|favourite| favourite["user_id"] != dan.id.as_str())
    );
    // Marking someone kept is still harmless at the cap; unmarking frees a place.
    mark(app, &bob, &ada).await;
    app.delete_as(&bob, &favourite_path(&ada)).await.expect(204);
    mark(app, &bob, &dan).await;
    assert_eq!(favourites(app, &bob).await.len(), 500);
}

async fn a_favourite_scheduling_notifies_whoever_keeps_them(app: &TestApp) {
    let [ada, bob, cyd, eve] = app.register_all(["Ada", "Bob", "Cyd", "Eve"]).await;
    mark(app, &bob, &ada).await;
    mark(app, &eve, &ada).await;
    // Ada keeps Eve out of her sessions: she is not told of them.
    app.put(&format!("/api/blocks/{}", eve.id))
        .auth(&ada)
        .send()
        .await
        .expect(200);

    // Starting a session now is no news to plan for.
    app.instant_session(&ada, 4).await;
    assert!(favourite_notices(app, &bob).await.is_empty());

    let session = app
        .scheduled_session(&ada, "Pair on the parser", Duration::hours(2))
        .await;
    let id = id_of(&session);
    let notices = favourite_notices(app, &bob).await;
    assert_eq!(notices.len(), 1, "{notices:?}");
    let notice = &notices[0];
    assert_eq!(notice["session_id"], id.as_str());
    assert_eq!(notice["user_id"], bob.id.as_str());
    let starts = crate::harness::timestamp(&session["scheduled_start"]);
    assert_eq!(
        notice["message"],
        format!(
            "Ada scheduled “Pair on the parser” for {}",
            starts.format("%a %-d %b %Y, %H:%M UTC")
        )
    );
    // Nobody else is told: not someone who keeps nobody, not Ada herself,
    // not someone she blocked.
    for other in [&cyd, &ada, &eve] {
        assert!(
            favourite_notices(app, other).await.is_empty(),
            "{} was told",
            other.name
        );
    }
    // Bob's own scheduling tells nobody: nobody keeps him.
    app.scheduled_session(&bob, "Bob's plan", Duration::hours(3))
        .await;
    assert!(favourite_notices(app, &ada).await.is_empty());
    // Marking Ada later tells Cyd nothing of sessions planned before.
    mark(app, &cyd, &ada).await;
    assert!(favourite_notices(app, &cyd).await.is_empty());
    // Her next one tells both who keep her, once each.
    app.scheduled_session(&ada, "Review day", Duration::days(1))
        .await;
    assert_eq!(favourite_notices(app, &bob).await.len(), 2);
    assert_eq!(favourite_notices(app, &cyd).await.len(), 1);
}

/// Bob keeps Ada. Around them: Ada's plan, a session Ada is in now, a plan
/// she asked to be reminded of, and sessions without her. Answers Bob and
/// Ada, and the id of the session Ada is in now.
async fn bob_keeps_ada_among_sessions(app: &TestApp) -> (User, User, String) {
    let [ada, bob, cyd, dan] = app.register_all(["Ada", "Bob", "Cyd", "Dan"]).await;
    mark(app, &bob, &ada).await;
    app.scheduled_session(&ada, "Ada plans", Duration::hours(3))
        .await;
    let cyds_plan = app
        .scheduled_session(&cyd, "Cyd plans, Ada comes", Duration::hours(1))
        .await;
    app.post_as(
        &ada,
        &format!("/api/sessions/{}/remind-me", id_of(&cyds_plan)),
        None,
    )
    .await
    .expect(204);
    app.scheduled_session(&dan, "Dan plans alone", Duration::hours(2))
        .await;
    let with_ada = id_of(
        &app.create_session(&cyd, json!({"title": "Cyd hosts Ada"}))
            .await,
    );
    app.join(&ada, &with_ada).await.expect(200);
    app.create_session(&dan, json!({"title": "Dan works alone"}))
        .await;
    // An ended session of Ada's is not listed at all.
    let ended = id_of(
        &app.create_session(&ada, json!({"title": "Ada ended"}))
            .await,
    );
    app.session_action(&ada, &ended, "end").await.expect(200);
    (bob, ada, with_ada)
}

async fn sessions_with_favourites_are_listed_on_their_own(app: &TestApp) {
    let (bob, ada, with_ada) = bob_keeps_ada_among_sessions(app).await;
    assert_eq!(
        titles_with_favourites(app, &bob, "active").await,
        ["Cyd hosts Ada"]
    );
    // Soonest first, as the upcoming list.
    assert_eq!(
        titles_with_favourites(app, &bob, "scheduled").await,
        ["Cyd plans, Ada comes", "Ada plans"]
    );
    // Paged like the other lists.
    let first = app
        .get_ok(
            &bob,
            "/api/sessions?status=scheduled&with=favourites&limit=1",
        )
        .await;
    assert_eq!(titles(&first["sessions"]), ["Cyd plans, Ada comes"]);
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let second = app
        .get_ok(
            &bob,
            &format!(
                "/api/sessions?status=scheduled&with=favourites&limit=1&cursor={}",
                crate::harness::encode_query(cursor)
            ),
        )
        .await;
    assert_eq!(titles(&second["sessions"]), ["Ada plans"]);
    // The whole lists are as before, and someone who keeps nobody sees none.
    assert_eq!(app.all_sessions(&bob, "active", 100).await.len(), 2);
    assert!(titles_with_favourites(app, &ada, "active").await.is_empty());
    app.get_as(&bob, "/api/sessions?with=friends")
        .await
        .expect_field_error(400, "invalid", "with");

    // Once Ada leaves, the session is no longer one with her.
    app.leave(&ada, &with_ada).await.expect(200);
    assert!(titles_with_favourites(app, &bob, "active").await.is_empty());
}

/// The home page as `viewer`'s browser gets it.
async fn home_page(app: &TestApp, viewer: &User) -> String {
    let reply = app
        .get("/")
        .header("cookie", &format!("lockin_session={}", viewer.token))
        .send()
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body
}

/// Where each of `needles` first shows in `page`, failing when one is missing.
fn positions(page: &str, needles: &[&str]) -> Vec<usize> {
    needles
        .iter()
        .map(|needle| {
            page.find(needle)
                .unwrap_or_else(|| panic!("{needle:?} is not on the page"))
        })
        .collect()
}

async fn the_home_page_lists_sessions_with_favourites_first(app: &TestApp) {
    let (bob, ..) = bob_keeps_ada_among_sessions(app).await;
    let page = home_page(app, &bob).await;
    let at = positions(
        &page,
        &[
            "With your favourites",
            "Cyd hosts Ada",
            "Cyd plans, Ada comes",
            "Ada plans",
            "Active now",
            "Dan works alone",
            "Upcoming",
            "Dan plans alone",
        ],
    );
    assert!(
        at.windows(2).all(|pair| pair[0] < pair[1]),
        "the sections and sessions are out of order: {at:?}"
    );
    let favourites_section = &page[at[0]..at[4]];
    assert!(!favourites_section.contains("Dan "), "{favourites_section}");
    assert!(!page.contains("Ada ended"));
    // Below, each session with a favourite is marked as such, the others not.
    let below = &page[at[4]..];
    assert_eq!(below.matches("With a favourite").count(), 3, "{below}");

    // Someone who keeps nobody is told how to keep someone.
    let cyd = app.register("Newcomer").await;
    let page = home_page(app, &cyd).await;
    assert!(page.contains("None of your favourites has a session running or planned."));
    assert!(!page.contains("With a favourite<"));
}
