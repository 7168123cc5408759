//! The routes on fake time.

use super::*;

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

/// The default limit on unknown sources, and routes under it that know no
/// address yet.
fn default_routes() -> (UnknownSourceLimit, Routes) {
    let limit = UnknownSourceLimit::default();
    (limit, Routes::new(limit))
}

#[test]
fn a_flood_from_one_unknown_address_costs_at_most_the_burst_in_lookups() {
    let (limit, mut routes) = default_routes();
    let now = Instant::now();
    let flooder = addr("203.0.113.9:4000");
    for _ in 0..10_000 {
        routes.route(now, flooder);
    }
    assert_eq!(routes.lookups(), u64::from(limit.burst));
    assert_eq!(routes.dropped(), 10_000 - u64::from(limit.burst));

    // Someone else's first check is still looked up…
    let newcomer = addr("198.51.100.7:5000");
    assert_eq!(routes.route(now, newcomer), Route::Lookup);
    // …and once claimed, goes straight to its peer without a lookup.
    routes.claim(newcomer, "room".into(), "bob".into());
    let lookups = routes.lookups();
    for _ in 0..100 {
        assert_eq!(
            routes.route(now, newcomer),
            Route::Peer("room".into(), "bob".into())
        );
    }
    assert_eq!(routes.lookups(), lookups);
}

#[test]
fn an_unknown_address_earns_lookups_back_over_time() {
    let (limit, mut routes) = default_routes();
    let start = Instant::now();
    let source = addr("203.0.113.9:4000");
    while routes.route(start, source) == Route::Lookup {}
    assert_eq!(routes.route(start, source), Route::Drop);

    let later = start + limit.refill_every * 3;
    for _ in 0..3 {
        assert_eq!(routes.route(later, source), Route::Lookup);
    }
    assert_eq!(routes.route(later, source), Route::Drop);

    // Long quiet: a full bucket, never more.
    let much_later = later + limit.refill_every * 1000;
    let mut admitted = 0;
    while routes.route(much_later, source) == Route::Lookup {
        admitted += 1;
    }
    assert_eq!(admitted, limit.burst);
}

#[test]
fn a_gone_peer_s_address_is_unknown_again() {
    let (_, mut routes) = default_routes();
    let now = Instant::now();
    let source = addr("198.51.100.7:5000");
    routes.claim(source, "room".into(), "bob".into());
    routes.forget_peer(&"room".into(), &"bob".into());
    assert_eq!(routes.route(now, source), Route::Lookup);
}

#[test]
fn unknown_addresses_are_remembered_up_to_the_bound() {
    let limit = UnknownSourceLimit {
        max_addresses: 4,
        ..UnknownSourceLimit::default()
    };
    let mut routes = Routes::new(limit);
    let now = Instant::now();
    for port in 0..100 {
        routes.route(now, addr(&format!("203.0.113.9:{port}")));
        assert!(routes.unknown.len() <= 4);
    }
}
