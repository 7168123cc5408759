//! Signing up, signing in and out, the cookie session with its CSRF check, and
//! the limit on password guessing.

use serde_json::{Value, json};

use crate::harness::{PASSWORD, TestApp, User, refuses_each, timestamp};

both_backends!(
    registers_and_logs_in,
    register_refuses_bad_input,
    logout_revokes_only_that_token,
    requests_without_valid_credentials_are_refused,
    cookie_session_needs_the_csrf_token_to_post,
    a_csrf_token_works_only_with_its_own_sign_in,
    a_page_gives_a_stale_csrf_cookie_the_sign_ins_token,
    login_attempts_are_rate_limited_per_email,
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    one_email_registered_concurrently_gets_one_account,
    correct_passwords_are_never_counted,
    a_forwarded_for_header_is_ignored_without_a_trusted_proxy,
    a_sign_in_expires_and_its_token_is_swept,
    cookies_are_not_secure_over_plain_http,
);

both_backends_with!(
    |config: &mut server::Config| config.trusted_proxy = vec!["127.0.0.1".parse().unwrap()],
    guesses_from_elsewhere_never_lock_the_owner_out,
);

both_backends_with!(
    |config: &mut server::Config| config.public_url = Some("https://lockin.example".into()),
    cookies_are_secure_behind_https,
);

both_backends_with!(
    |config: &mut server::Config| {
        config.signups_per_minute = 3;
        config.signups_per_minute_total = 1000;
    },
    sign_ups_are_limited_per_client,
);

async fn registers_and_logs_in(app: &TestApp) {
    let reply = app
        .sign_up("  Ada.Lovelace@Example.COM ", PASSWORD, " Ada ")
        .await;
    let registered = reply.expect(201);
    let user = &registered["user"];
    assert_eq!(user["email"], "ada.lovelace@example.com");
    assert_eq!(user["name"], "Ada");
    assert!(
        uuid::Uuid::parse_str(user["id"].as_str().unwrap()).is_ok(),
        "{user}"
    );
    timestamp(&user["created_at"]);
    assert_no_secret_fields(&registered);
    let token = registered["token"].as_str().expect("a token").to_owned();
    assert!(!token.is_empty());

    let me = app.get_ok(&token, "/api/me").await;
    assert_eq!(&me, user, "GET /api/me shows the registered user");

    // Signing in is case-insensitive on the email, as signing up lowercased it.
    let logged_in = app
        .login("ADA.LOVELACE@example.com ", PASSWORD)
        .await
        .expect(200);
    assert_eq!(&logged_in["user"], user);
    assert_no_secret_fields(&logged_in);
    let second_token = logged_in["token"].as_str().expect("a token");
    let me_again = app.get_ok(second_token, "/api/me").await;
    assert_eq!(me_again["id"], user["id"]);
    // The first token still works: signing in elsewhere does not sign out.
    app.get_ok(&token, "/api/me").await;

    app.login("ada.lovelace@example.com", "not the password")
        .await
        .expect_error(401, "unauthenticated");
    app.login("nobody@example.com", PASSWORD)
        .await
        .expect_error(401, "unauthenticated");
}

fn assert_no_secret_fields(answer: &Value) {
    let text = answer.to_string();
    assert!(!text.contains(PASSWORD), "the password is echoed: {text}");
    for key in ["password", "password_hash"] {
        assert!(
            answer["user"].get(key).is_none(),
            "the user carries {key}: {answer}"
        );
    }
}

async fn register_refuses_bad_input(app: &TestApp) {
    let existing = app.register("Grace").await;
    let cases = [
        (
            json!({"email": "eve@example.com", "password": "seven77", "name": "Eve"}),
            "password",
        ),
        (
            json!({"email": "eve@example.com", "name": "Eve"}),
            "password",
        ),
        (
            json!({"email": "not-an-email", "password": PASSWORD, "name": "Eve"}),
            "email",
        ),
        (
            json!({"email": "eve@localhost", "password": PASSWORD, "name": "Eve"}),
            "email",
        ),
        (json!({"password": PASSWORD, "name": "Eve"}), "email"),
        (
            json!({"email": "eve@example.com", "password": PASSWORD}),
            "name",
        ),
        (
            json!({"email": "eve@example.com", "password": PASSWORD, "name": "   "}),
            "name",
        ),
        (
            json!({"email": "eve@example.com", "password": PASSWORD, "name": 42}),
            "name",
        ),
        (
            json!({"email": "eve@example.com", "password": PASSWORD, "name": "Eve", "admin": true}),
            "admin",
        ),
    ];
    refuses_each(|| app.post("/api/auth/register"), cases).await;
    // None of those made an account: the address is still free, and unknown to login.
    app.login("eve@example.com", PASSWORD)
        .await
        .expect_error(401, "unauthenticated");

    // The address is taken whatever its case or surrounding spaces.
    let shouting = format!("  {} ", existing.email.to_uppercase());
    app.sign_up(&shouting, "another password", "Impostor")
        .await
        .expect_field_error(409, "conflict", "email");
    // And the original account is untouched: its password still works.
    let login = app.login(&existing.email, PASSWORD).await.expect(200);
    assert_eq!(login["user"]["name"], "Grace");
    app.login(&existing.email, "another password")
        .await
        .expect_error(401, "unauthenticated");

    app.sign_up("eve@example.com", PASSWORD, "Eve")
        .await
        .expect(201);
}

async fn one_email_registered_concurrently_gets_one_account(app: &TestApp) {
    let attempts = futures::future::join_all((0..8).map(|n| async move {
        app.sign_up("twin@example.com", PASSWORD, &format!("Twin {n}"))
            .await
    }))
    .await;
    let mut created = 0;
    for reply in attempts {
        if reply.status.as_u16() == 201 {
            created += 1;
        } else {
            reply.expect_field_error(409, "conflict", "email");
        }
    }
    assert_eq!(created, 1, "exactly one of the racing sign-ups wins");
    app.login("twin@example.com", PASSWORD).await.expect(200);
}

async fn logout_revokes_only_that_token(app: &TestApp) {
    let ada = app.register("Ada").await;
    let other_device = User::from_auth_answer(&app.login(&ada.email, PASSWORD).await.expect(200));
    let answer = app
        .post_as(&ada, "/api/auth/logout", None)
        .await
        .expect(204);
    assert_eq!(answer, Value::Null, "204 has no body");
    app.get_as(&ada, "/api/me")
        .await
        .expect_error(401, "unauthenticated");
    app.post_as(&ada, "/api/projects", &json!({"name": "After logout"}))
        .await
        .expect_error(401, "unauthenticated");
    let me = app.get_ok(&other_device, "/api/me").await;
    assert_eq!(me["id"], ada.id.as_str(), "the other sign-in still works");
    let projects = app.get_ok(&other_device, "/api/projects").await;
    assert_eq!(projects, json!([]), "the refused create made nothing");
}

async fn requests_without_valid_credentials_are_refused(app: &TestApp) {
    let ada = app.register("Ada").await;
    app.get("/api/me")
        .send()
        .await
        .expect_error(401, "unauthenticated");
    app.get_as("not-a-real-token", "/api/me")
        .await
        .expect_error(401, "unauthenticated");
    app.get("/api/me")
        .header("authorization", &format!("Basic {}", ada.token))
        .send()
        .await
        .expect_error(401, "unauthenticated");
    app.get_as(&format!("{}x", ada.token), "/api/me")
        .await
        .expect_error(401, "unauthenticated");
    app.post("/api/sessions")
        .json(&crate::harness::session_body(json!({})))
        .send()
        .await
        .expect_error(401, "unauthenticated");
    assert_eq!(
        app.sessions_snapshot(&ada).await,
        json!({"active": [], "scheduled": []})
    );
}

async fn cookie_session_needs_the_csrf_token_to_post(app: &TestApp) {
    let reply = app.sign_up("cookie@example.com", PASSWORD, "Cookie").await;
    let cookies = reply.cookies();
    let user = User::from_auth_answer(&reply.expect(201));
    let session = cookies
        .get("lockin_session")
        .expect("register sets the lockin_session cookie");
    assert!(
        session.has("httponly"),
        "lockin_session must be HttpOnly: {session:?}"
    );
    assert!(
        session.has("samesite=lax"),
        "lockin_session must be SameSite=Lax: {session:?}"
    );
    assert!(!session.value.is_empty());
    let csrf = cookies
        .get("lockin_csrf")
        .expect("register sets the lockin_csrf cookie");
    assert!(!csrf.value.is_empty());
    let cookie_header = format!(
        "lockin_session={}; lockin_csrf={}",
        session.value, csrf.value
    );

    // Reading needs only the cookie.
    let me = app
        .get("/api/me")
        .header("cookie", &cookie_header)
        .send()
        .await
        .expect(200);
    assert_eq!(me["id"], user.id.as_str());

    // Writing without the header, or with the wrong one, is refused and changes nothing.
    app.post("/api/projects")
        .header("cookie", &cookie_header)
        .json(&json!({"name": "Forged"}))
        .send()
        .await
        .expect_error(403, "forbidden");
    app.post("/api/projects")
        .header("cookie", &cookie_header)
        .header("x-csrf-token", "guessed")
        .json(&json!({"name": "Forged"}))
        .send()
        .await
        .expect_error(403, "forbidden");
    let projects = app.get_ok(&user, "/api/projects").await;
    assert_eq!(projects, json!([]));

    let created = app
        .post("/api/projects")
        .header("cookie", &cookie_header)
        .header("x-csrf-token", &csrf.value)
        .json(&json!({"name": "Real"}))
        .send()
        .await
        .expect(201);
    assert_eq!(created["owner_id"], user.id.as_str());

    // Login sets a cookie session too.
    let login = app.login("cookie@example.com", PASSWORD).await;
    let login_cookies = login.cookies();
    login.expect(200);
    let login_session = login_cookies
        .get("lockin_session")
        .expect("login sets the lockin_session cookie");
    assert!(login_session.has("httponly"));
    assert!(
        login_cookies.contains_key("lockin_csrf"),
        "login sets lockin_csrf"
    );

    // Logging out by cookie needs the CSRF header as well, and ends that cookie session.
    app.post("/api/auth/logout")
        .header("cookie", &cookie_header)
        .send()
        .await
        .expect_error(403, "forbidden");
    app.get("/api/me")
        .header("cookie", &cookie_header)
        .send()
        .await
        .expect(200);
    app.post("/api/auth/logout")
        .header("cookie", &cookie_header)
        .header("x-csrf-token", &csrf.value)
        .send()
        .await
        .expect(204);
    app.get("/api/me")
        .header("cookie", &cookie_header)
        .send()
        .await
        .expect_error(401, "unauthenticated");
}

/// A browser's sign-in: its session cookie and the CSRF token set with it.
struct CookieSignIn {
    session: String,
    csrf: String,
}

impl CookieSignIn {
    async fn of(app: &TestApp, email: &str) -> Self {
        let reply = app.login(email, PASSWORD).await;
        let cookies = reply.cookies();
        reply.expect(200);
        Self {
            session: cookies["lockin_session"].value.clone(),
            csrf: cookies["lockin_csrf"].value.clone(),
        }
    }

    /// The `Cookie` header of this sign-in, with `csrf_cookie` as the CSRF cookie.
    fn with_csrf_cookie(&self, csrf_cookie: &str) -> String {
        format!("lockin_session={}; lockin_csrf={csrf_cookie}", self.session)
    }

    /// A page form posted by this sign-in's cookie with `csrf` as both its
    /// CSRF cookie and its `_csrf` field, then `fields` (`&name=…`).
    async fn post_form(
        &self,
        app: &TestApp,
        page: &str,
        csrf: &str,
        fields: &str,
    ) -> crate::harness::Reply {
        app.post(page)
            .header("cookie", &self.with_csrf_cookie(csrf))
            .raw(
                Some("application/x-www-form-urlencoded"),
                format!("_csrf={csrf}{fields}"),
            )
            .send()
            .await
    }

    /// `POST /api/projects` by this sign-in's cookie, with `csrf_cookie` as
    /// the CSRF cookie and `csrf_header` as the token it sends.
    async fn create_project(
        &self,
        app: &TestApp,
        csrf_cookie: &str,
        csrf_header: &str,
        name: &str,
    ) -> crate::harness::Reply {
        app.post("/api/projects")
            .header("cookie", &self.with_csrf_cookie(csrf_cookie))
            .header("x-csrf-token", csrf_header)
            .json(&json!({ "name": name }))
            .send()
            .await
    }
}

/// The CSRF token is bound to its sign-in: another sign-in's (the same
/// person's or someone else's), or a cookie and header an attacker planted
/// together, is refused and changes nothing, over the API and on the pages.
/// The sign-in's own token works whatever the CSRF cookie holds.
async fn a_csrf_token_works_only_with_its_own_sign_in(app: &TestApp) {
    let ada = app.register("Ada").await;
    let bob = app.register("Bob").await;
    let first = CookieSignIn::of(app, &ada.email).await;
    let second = CookieSignIn::of(app, &ada.email).await;
    let bobs = CookieSignIn::of(app, &bob.email).await;
    assert_ne!(
        first.csrf, second.csrf,
        "each sign-in has its own CSRF token"
    );
    let forged = "forged-by-a-sibling-site";
    for (csrf_cookie, header) in [
        (second.csrf.as_str(), second.csrf.as_str()),
        (bobs.csrf.as_str(), bobs.csrf.as_str()),
        (forged, forged),
        (first.csrf.as_str(), second.csrf.as_str()),
    ] {
        first
            .create_project(app, csrf_cookie, header, "Forged")
            .await
            .expect_error(403, "forbidden");
    }
    // The pages' forms: the same with the `_csrf` field.
    for csrf in [&second.csrf, &bobs.csrf] {
        for (page, fields) in [("/projects", "&name=Forged"), ("/logout", "")] {
            let reply = first.post_form(app, page, csrf, fields).await;
            assert_eq!(reply.status.as_u16(), 403, "{page}: {}", reply.body);
        }
    }
    let projects = app.get("/api/projects").auth(&ada).send().await.expect(200);
    assert_eq!(projects, json!([]), "a refused request changed something");
    app.get("/api/me")
        .header("cookie", &first.with_csrf_cookie(&first.csrf))
        .send()
        .await
        .expect(200);

    // The sign-in's own token, with a planted CSRF cookie or none.
    first
        .create_project(app, forged, &first.csrf, "Real")
        .await
        .expect(201);
    // The pages carry the same token in their forms.
    let page = app
        .get("/projects/new")
        .header("cookie", &format!("lockin_session={}", first.session))
        .send()
        .await;
    assert_eq!(page.status.as_u16(), 200);
    assert!(
        page.body
            .contains(&format!("name=\"_csrf\" value=\"{}\"", first.csrf)),
        "the page's form does not carry the sign-in's CSRF token"
    );
    let posted = app
        .post("/projects")
        .header("cookie", &first.with_csrf_cookie(forged))
        .raw(
            Some("application/x-www-form-urlencoded"),
            format!("_csrf={}&name=Also+real", first.csrf),
        )
        .send()
        .await;
    assert_eq!(posted.status.as_u16(), 303, "{}", posted.body);
    let projects = app.get("/api/projects").auth(&ada).send().await.expect(200);
    assert_eq!(projects.as_array().map(Vec::len), Some(2));
}

/// A browser that holds a CSRF cookie its sign-in does not call for (one
/// signed in before tokens were bound to the sign-in) gets the right one
/// with the next page, and its script's writes work again.
async fn a_page_gives_a_stale_csrf_cookie_the_sign_ins_token(app: &TestApp) {
    let ada = app.register("Ada").await;
    let signed_in = CookieSignIn::of(app, &ada.email).await;
    let stale = "random-from-before-binding";
    let cookie = signed_in.with_csrf_cookie(stale);
    signed_in
        .create_project(app, stale, stale, "Refused")
        .await
        .expect_error(403, "forbidden");
    let page = app.get("/projects").header("cookie", &cookie).send().await;
    assert_eq!(page.status.as_u16(), 200, "{}", page.body);
    let refreshed = page
        .cookies()
        .get("lockin_csrf")
        .map(|cookie| cookie.value.clone());
    assert_eq!(refreshed.as_deref(), Some(signed_in.csrf.as_str()));
    signed_in
        .create_project(app, &signed_in.csrf, &signed_in.csrf, "Accepted")
        .await
        .expect(201);
    // A browser that already holds the right one is not sent it again.
    let page = app
        .get("/projects")
        .header("cookie", &signed_in.with_csrf_cookie(&signed_in.csrf))
        .send()
        .await;
    assert!(!page.cookies().contains_key("lockin_csrf"));
}

async fn login_attempts_are_rate_limited_per_email(app: &TestApp) {
    let [target, bystander] = app.register_all(["Target", "Bystander"]).await;
    for attempt in 1..=10 {
        let reply = app
            .login(&target.email, &format!("guess number {attempt}"))
            .await;
        assert_eq!(
            reply.status.as_u16(),
            401,
            "attempt {attempt} of 10 within a minute is still allowed: {}",
            reply.body
        );
    }
    app.login(&target.email, "guess number 11")
        .await
        .expect_error(429, "rate_limited");
    // Once limited, even the right password waits: otherwise guessing goes on.
    app.login(&target.email, PASSWORD)
        .await
        .expect_error(429, "rate_limited");
    // Another address is not affected, and neither are tokens already held.
    app.login(&bystander.email, PASSWORD).await.expect(200);
    app.get_ok(&target, "/api/me").await;
}

/// `POST /api/auth/login` from behind a proxy that says the request comes from `client`.
async fn sign_in_from(
    app: &TestApp,
    email: &str,
    password: &str,
    client: &str,
) -> crate::harness::Reply {
    app.post("/api/auth/login")
        .header("x-forwarded-for", client)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
}

/// Only failures count: someone signing in rightly, again and again, is never refused.
async fn correct_passwords_are_never_counted(app: &TestApp) {
    let ada = app.register("Ada").await;
    for _ in 0..15 {
        app.login(&ada.email, PASSWORD).await.expect(200);
    }
}

/// Behind a trusted proxy the forwarded client is counted: an attacker's
/// guesses stop the attacker, not the account's owner.
async fn guesses_from_elsewhere_never_lock_the_owner_out(app: &TestApp) {
    let ada = app.register("Ada").await;
    let attacker = "203.0.113.7";
    for guess in 0..10 {
        sign_in_from(app, &ada.email, &format!("guess {guess}"), attacker)
            .await
            .expect_error(401, "unauthenticated");
    }
    sign_in_from(app, &ada.email, "guess 10", attacker)
        .await
        .expect_error(429, "rate_limited");
    // Even the right password waits on the guessing client.
    sign_in_from(app, &ada.email, PASSWORD, attacker)
        .await
        .expect_error(429, "rate_limited");
    // Ada, from her own address, signs in.
    sign_in_from(app, &ada.email, PASSWORD, "198.51.100.2")
        .await
        .expect(200);
}

/// A forwarded-for header from a client that is not a trusted proxy is
/// anyone's to forge, so it changes nothing: the guesses count against the
/// connection's own address whatever it claims.
async fn a_forwarded_for_header_is_ignored_without_a_trusted_proxy(app: &TestApp) {
    let ada = app.register("Ada").await;
    for guess in 0..10 {
        let claimed = format!("203.0.113.{guess}");
        sign_in_from(app, &ada.email, &format!("guess {guess}"), &claimed)
            .await
            .expect_error(401, "unauthenticated");
    }
    sign_in_from(app, &ada.email, PASSWORD, "198.51.100.2")
        .await
        .expect_error(429, "rate_limited");
}

/// Each sign-up costs a password hash and an account: one client gets a few
/// a minute, and a refused one creates nothing.
async fn sign_ups_are_limited_per_client(app: &TestApp) {
    for n in 0..3 {
        app.sign_up(&format!("person{n}@example.com"), PASSWORD, "Person")
            .await
            .expect(201);
    }
    app.sign_up("one.too.many@example.com", PASSWORD, "Person")
        .await
        .expect_error(429, "rate_limited");
    app.login("one.too.many@example.com", PASSWORD)
        .await
        .expect_error(401, "unauthenticated");
}

/// A token older than a sign-in's lifetime (30 days) no longer opens the
/// account, and the sweep removes its row.
async fn a_sign_in_expires_and_its_token_is_swept(app: &TestApp) {
    use store::Store;
    let [ada, bob] = app.register_all(["Ada", "Bob"]).await;
    app.get_ok(&ada, "/api/me").await;
    sqlx::any::install_default_drivers();
    let database = sqlx::AnyPool::connect(app.database_url())
        .await
        .expect("the test database");
    let long_ago = (chrono::Utc::now() - chrono::Duration::days(31)).timestamp_micros();
    sqlx::query("UPDATE tokens SET created_at = $1 WHERE user_id = $2")
        .bind(long_ago)
        .bind(ada.id.as_str())
        .execute(&database)
        .await
        .expect("ageing Ada's sign-in");
    app.get_as(&ada, "/api/me")
        .await
        .expect_error(401, "unauthenticated");
    app.get_ok(&bob, "/api/me").await;

    let store = store::SqlStore::connect(app.database_url())
        .await
        .expect("the store");
    let timeouts = store::Timeouts {
        departure: std::time::Duration::from_secs(3600),
        empty: std::time::Duration::from_secs(3600),
        node_dead_after: std::time::Duration::from_secs(3600),
        remind_before: std::time::Duration::ZERO,
    };
    store.sweep("a-node", &timeouts).await.expect("sweeping");
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM tokens WHERE user_id = $1")
        .bind(ada.id.as_str())
        .fetch_one(&database)
        .await
        .expect("counting tokens");
    assert_eq!(left, 0, "an expired token outlived the sweep");
    app.get_ok(&bob, "/api/me").await;
    store.close().await;
    database.close().await;
}

/// Every cookie a response sets, as its whole `Set-Cookie` line.
fn set_cookies(reply: &crate::harness::Reply) -> Vec<String> {
    reply
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .map(str::to_owned)
        .collect()
}

/// Served at an https address, every cookie the site sets — the sign-in, the
/// CSRF token, a visitor's form token, the sign-out — is `Secure`.
async fn cookies_are_secure_behind_https(app: &TestApp) {
    let ada = app.register("Ada").await;
    let signed_in = app.login(&ada.email, PASSWORD).await;
    let visitor = app.get("/login").header("accept", "text/html").send().await;
    let signed_out = app.post_as(&ada, "/api/auth/logout", None).await;
    for reply in [&signed_in, &visitor, &signed_out] {
        let cookies = set_cookies(reply);
        assert!(!cookies.is_empty(), "no cookie set");
        for cookie in cookies {
            assert!(cookie.ends_with("; Secure"), "{cookie}");
        }
    }
}

/// On plain http (the default, `localhost`) a `Secure` cookie would never
/// come back, so none is.
async fn cookies_are_not_secure_over_plain_http(app: &TestApp) {
    let ada = app.register("Ada").await;
    let signed_in = app.login(&ada.email, PASSWORD).await;
    let cookies = set_cookies(&signed_in);
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    assert!(
        cookies.iter().all(|cookie| !cookie.contains("Secure")),
        "{cookies:?}"
    );
}
