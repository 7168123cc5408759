//! Media signalling on the live connection (docs/MEDIA.md): who may hold
//! media in a session, what a late joiner is told, and that leaving — through
//! the API, by closing the connection, or by the session ending — takes a
//! person's tracks away from everyone at once. A client peer
//! ([`sfu::client`]) stands in for each browser's `RTCPeerConnection`; no
//! media flows here (the sfu crate's own tests and the browser suite carry
//! media).

use serde_json::{Value, json};
use sfu::TrackKind;
use sfu::client::{ClientDriver, Direction};
use tokio::sync::{mpsc, oneshot};

use crate::client::{LiveClient, PATIENCE};
use crate::harness::{Backend, TestApp, User, id_of, spawn_app, spawn_app_with};

both_backends!(
    only_people_joined_to_an_active_session_get_media,
    late_joiners_hear_of_every_track_and_leaving_removes_them_at_once,
    closing_the_connection_or_ending_the_session_lets_media_go,
    a_second_tab_takes_over_and_the_first_closing_leaves_it_be,
    the_media_line_caps_are_the_servers_options,
);

/// A browser's peer connection, before it joins: a microphone and a camera
/// line, offered, on a UDP socket of its own.
struct Offering {
    driver: ClientDriver,
    offer: String,
}

impl Offering {
    async fn new() -> Self {
        let mut driver = ClientDriver::bind([127, 0, 0, 1].into())
            .await
            .expect("a UDP socket");
        let (offer, _) = driver
            .peer()
            .offer(&[
                (TrackKind::Audio, Direction::SendOnly),
                (TrackKind::Video, Direction::SendOnly),
            ])
            .expect("an offer with two lines");
        Self { driver, offer }
    }

    /// Takes the server's answer and connects, as a browser does: the
    /// server only learns of published tracks once the connection is up.
    fn connect(mut self, answer_sdp: &str) -> Browser {
        self.driver
            .peer()
            .accept_answer(answer_sdp)
            .expect("the server's answer fits the offer");
        let (commands, receiver) = mpsc::unbounded_channel();
        tokio::spawn(pump(self.driver, receiver));
        Browser { commands }
    }
}

/// A joined browser; its peer connection runs until this is dropped.
pub(crate) struct Browser {
    commands: mpsc::UnboundedSender<(String, oneshot::Sender<String>)>,
}

impl Browser {
    /// Answers a server offer, as the page does.
    async fn answer(&self, offer_sdp: &str) -> String {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send((offer_sdp.to_owned(), reply))
            .expect("the browser runs");
        answer.await.expect("an answer")
    }
}

/// Runs a peer connection, answering offers, until it fails or its
/// [`Browser`] is dropped.
async fn pump(
    mut driver: ClientDriver,
    mut offers: mpsc::UnboundedReceiver<(String, oneshot::Sender<String>)>,
) {
    loop {
        tokio::select! {
            event = driver.next_event() => {
                if event.is_err() {
                    return;
                }
            }
            offer = offers.recv() => {
                let Some((sdp, reply)) = offer else { return };
                let answer = driver.peer().accept_offer(&sdp).expect("the server's offer is acceptable");
                let _ = reply.send(answer);
            }
        }
    }
}

/// Whether `message` is a `media.<kind>` message about `session_id`.
fn media(kind: &str, session_id: &str) -> impl Fn(&Value) -> bool {
    let kind = format!("media.{kind}");
    let session_id = session_id.to_owned();
    move |message| message["type"] == kind.as_str() && message["session_id"] == session_id.as_str()
}

/// The next `media.<kind>` message about `session_id`.
pub async fn next_media(client: &mut LiveClient, kind: &str, session_id: &str) -> Value {
    client
        .next_message_matching(&format!("media.{kind}"), media(kind, session_id), PATIENCE)
        .await
}

/// A `media.<kind>` message about `session_id`, with nothing else in it.
fn about(kind: &str, session_id: &str) -> Value {
    json!({"type": format!("media.{kind}"), "session_id": session_id})
}

/// Sends `message`, asserts that it is refused with the error `code`, and
/// returns the error.
async fn refused(client: &mut LiveClient, message: Value, code: &str) -> Value {
    let session_id = message["session_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    client.send(message).await;
    let error = next_media(client, "error", &session_id).await["error"].clone();
    assert_eq!(error["code"], code, "{error}");
    error
}

/// Joins the session's media from `client`; returns the browser, its answer applied.
pub(crate) async fn join_media(client: &mut LiveClient, session_id: &str) -> Browser {
    let browser = Offering::new().await;
    client
        .send(json!({
            "type": "media.join",
            "session_id": session_id,
            "offer": browser.offer,
            "sources": {"0": "microphone", "1": "camera"},
        }))
        .await;
    let sdp = client.join_answer(session_id).await;
    browser.connect(&sdp)
}

/// A page of `who`'s with a live connection of its own, in the session's
/// media; returns both.
pub(crate) async fn in_media(app: &TestApp, who: &User, session_id: &str) -> (LiveClient, Browser) {
    let mut client = LiveClient::connect(app, who).await;
    let browser = join_media(&mut client, session_id).await;
    (client, browser)
}

/// Waits for the server to close `client`'s media for `reason`.
pub(crate) async fn closed_for(client: &mut LiveClient, session_id: &str, reason: &str) {
    let closed = next_media(client, "closed", session_id).await;
    assert_eq!(closed["reason"], reason, "{closed}");
}

/// The next `media.tracks` list with `count` tracks from `from`, skipping earlier lists.
pub(crate) async fn tracks_until(
    client: &mut LiveClient,
    session_id: &str,
    from: &User,
    count: usize,
) -> Vec<Value> {
    loop {
        let message = next_media(client, "tracks", session_id).await;
        let tracks = message["tracks"].as_array().expect("a list").clone();
        let theirs = tracks
            .iter()
            .filter(|track| track["user_id"] == from.id.as_str())
            .count();
        if theirs == count {
            return tracks;
        }
    }
}

/// Answers the server's next offer, as the page does; the server offers
/// nothing new to a page until it has answered. Returns the offer's SDP.
async fn answer_next_offer(client: &mut LiveClient, browser: &Browser, session_id: &str) -> String {
    let offer = next_media(client, "offer", session_id).await;
    let offer = offer["sdp"].as_str().expect("an sdp").to_owned();
    let answer = browser.answer(&offer).await;
    client
        .send(json!({"type": "media.answer", "session_id": session_id, "sdp": answer}))
        .await;
    offer
}

async fn only_people_joined_to_an_active_session_get_media(backend: Backend) {
    let app = spawn_app(backend).await;
    let (ada, bob, id) = app.ada_hosts_bob().await;
    let mut bobs = LiveClient::connect(&app, &bob).await;

    // Not joined: neither the ICE servers (TURN passwords) nor media; and bad
    // input is refused by name.
    let offer = Offering::new().await.offer;
    let nobody = uuid::Uuid::now_v7().to_string();
    for (message, code) in [
        (about("config", &id), "forbidden"),
        (
            json!({"type": "media.join", "session_id": id, "offer": offer}),
            "forbidden",
        ),
        (
            json!({"type": "media.answer", "session_id": id, "sdp": "v=0"}),
            "not_found",
        ),
        (about("config", "nope"), "invalid"),
        (about("config", &nobody), "not_found"),
    ] {
        refused(&mut bobs, message, code).await;
    }
    let error = refused(&mut bobs, about("join", &id), "invalid").await;
    assert!(
        error["message"]
            .as_str()
            .unwrap_or_default()
            .contains("offer"),
        "{error}"
    );

    app.join(&bob, &id).await.expect(200);
    let nonsense = json!({"type": "media.join", "session_id": id, "offer": "v=0\r\nnonsense"});
    refused(&mut bobs, nonsense, "invalid").await;

    bobs.send(about("config", &id)).await;
    let config = next_media(&mut bobs, "config", &id).await;
    assert_eq!(config["ice_servers"], json!([]), "{config}");
    join_media(&mut bobs, &id).await;

    // A session that has not started has nobody joined to it.
    let later = app
        .scheduled_session(&ada, "Later", chrono::Duration::hours(2))
        .await;
    let mut adas = LiveClient::connect(&app, &ada).await;
    refused(&mut adas, about("config", &id_of(&later)), "forbidden").await;
    app.stop().await;
}

async fn late_joiners_hear_of_every_track_and_leaving_removes_them_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let (ada, bob, id) = app.ada_and_bob_in_session().await;

    let (mut adas, _adas_browser) = in_media(&app, &ada, &id).await;
    adas.send(
        json!({"type": "media.state", "session_id": id, "microphone": true, "camera": false}),
    )
    .await;

    // Bob arrives later and is told of Ada's microphone and camera, then offered them.
    let (mut bobs, bobs_browser) = in_media(&app, &bob, &id).await;
    let tracks = tracks_until(&mut bobs, &id, &ada, 2).await;
    let mut sources: Vec<(&str, &str)> = tracks
        .iter()
        .map(|track| {
            assert_eq!(track["name"], "Ada", "{track}");
            assert!(track["mid"].is_string(), "{track}");
            (
                track["kind"].as_str().unwrap_or_default(),
                track["source"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    sources.sort_unstable();
    assert_eq!(sources, [("audio", "microphone"), ("video", "camera")]);
    answer_next_offer(&mut bobs, &bobs_browser, &id).await;
    let before_pong = bobs.round_trip().await;
    assert!(
        !before_pong
            .iter()
            .any(|message| message["type"] == "media.error"),
        "{before_pong:?}"
    );
    let states = next_media(&mut bobs, "states", &id).await;
    assert_eq!(
        states["states"][ada.id.as_str()],
        json!({"microphone": true, "camera": false}),
        "{states}"
    );

    // Ada is offered Bob's tracks as he arrives.
    tracks_until(&mut adas, &id, &bob, 2).await;

    // Bob leaves the session (his connection stays open): his tracks go for Ada at once.
    app.leave(&bob, &id).await.expect(200);
    tracks_until(&mut adas, &id, &bob, 0).await;
    closed_for(&mut bobs, &id, "left").await;
    refused(&mut bobs, about("restart_ice", &id), "not_found").await;
    app.stop().await;
}

async fn closing_the_connection_or_ending_the_session_lets_media_go(backend: Backend) {
    let app = spawn_app(backend).await;
    let (ada, bob, id) = app.ada_and_bob_in_session().await;

    let (mut adas, adas_browser) = in_media(&app, &ada, &id).await;
    let (bobs, bobs_browser) = in_media(&app, &bob, &id).await;
    tracks_until(&mut adas, &id, &bob, 2).await;
    answer_next_offer(&mut adas, &adas_browser, &id).await;

    // The page goes away: its media goes with it, though Bob is still joined.
    bobs.close().await;
    drop(bobs_browser);
    tracks_until(&mut adas, &id, &bob, 0).await;
    answer_next_offer(&mut adas, &adas_browser, &id).await;

    // It comes back and joins again.
    let (mut bobs, _bobs_browser) = in_media(&app, &bob, &id).await;
    tracks_until(&mut adas, &id, &bob, 2).await;

    app.session_action(&ada, &id, "end").await.expect(200);
    for client in [&mut adas, &mut bobs] {
        closed_for(client, &id, "room_closed").await;
    }
    refused(&mut adas, about("config", &id), "forbidden").await;
    app.stop().await;
}

async fn a_second_tab_takes_over_and_the_first_closing_leaves_it_be(backend: Backend) {
    let app = spawn_app(backend).await;
    let (ada, bob, id) = app.ada_and_bob_in_session().await;

    let (mut adas, _adas_browser) = in_media(&app, &ada, &id).await;
    let (mut first_tab, _first_browser) = in_media(&app, &bob, &id).await;
    tracks_until(&mut first_tab, &id, &ada, 2).await;
    let (mut second_tab, browser) = in_media(&app, &bob, &id).await;
    closed_for(&mut first_tab, &id, "replaced").await;

    // The old tab no longer speaks for Bob, and closing it leaves his media be.
    refused(&mut first_tab, about("restart_ice", &id), "not_found").await;
    first_tab.close().await;

    second_tab
        .send(json!({"type": "media.state", "session_id": id, "microphone": false, "camera": true}))
        .await;
    let states = adas
        .next_message_matching(
            "Bob's state",
            |message| {
                media("states", &id)(message)
                    && message["states"][bob.id.as_str()]
                        == json!({"microphone": false, "camera": true})
            },
            PATIENCE,
        )
        .await;
    assert!(states["states"][ada.id.as_str()].is_object(), "{states}");

    // The room still holds Bob's connection: it answers his ICE restart
    // with new credentials.
    tracks_until(&mut second_tab, &id, &ada, 2).await;
    let offer = answer_next_offer(&mut second_tab, &browser, &id).await;
    second_tab.send(about("restart_ice", &id)).await;
    let restart = next_media(&mut second_tab, "offer", &id).await;
    let ufrag = |sdp: &str| {
        sdp.lines()
            .find(|line| line.starts_with("a=ice-ufrag:"))
            .map(str::to_owned)
    };
    assert_ne!(
        ufrag(restart["sdp"].as_str().expect("an sdp")),
        ufrag(&offer),
        "an ICE restart has new credentials"
    );
    tracks_until(&mut adas, &id, &bob, 2).await;
    app.stop().await;
}

/// How many media lines a person may send on is the server's option
/// (`--media-send-lines-per-peer`): at one, a page offering a microphone and
/// a camera is refused, and holds nothing afterwards.
async fn the_media_line_caps_are_the_servers_options(backend: Backend) {
    let app = spawn_app_with(backend, |config| config.media_send_lines_per_peer = 1).await;
    let (_ada, bob, id) = app.ada_and_bob_in_session().await;
    let mut bobs = LiveClient::connect(&app, &bob).await;
    let two_lines = Offering::new().await;
    let error = refused(
        &mut bobs,
        json!({
            "type": "media.join",
            "session_id": id,
            "offer": two_lines.offer,
            "sources": {"0": "microphone", "1": "camera"},
        }),
        "invalid",
    )
    .await;
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|message| message.contains("too many media lines")),
        "{error}"
    );
    // The refusal changed nothing: Bob holds no media seat to signal on.
    refused(&mut bobs, about("restart_ice", &id), "not_found").await;
    app.stop().await;
}
