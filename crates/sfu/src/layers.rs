//! Simulcast: a publisher's video layers, how fast each one arrives, and
//! which one a subscriber should get for the bandwidth it has.
//!
//! A browser that simulcasts sends the same camera two or three times at
//! different sizes, each with its own RTP stream id (`rid`). The room forwards
//! one of them to each subscriber, chosen from that subscriber's own
//! bandwidth estimate, so one slow receiver gets the small layer while
//! everyone else keeps the large one.
//!
//! The layers are ordered by the rate they are measured to arrive at; until
//! each has been measured, by the order the browser listed them in, which the
//! Lock In page lists smallest first (`a=simulcast:send l;m;h`).

use std::time::{Duration, Instant};

use str0m::media::Rid;

/// How long a rate measurement window lasts.
const RATE_WINDOW: Duration = Duration::from_secs(1);

/// A subscriber moves up a layer only when its budget exceeds the layer's
/// rate by this factor, and moves down as soon as the budget falls below the
/// rate of the layer it has: the gap keeps it from flapping between two.
const UPGRADE_HEADROOM: f64 = 1.15;

/// The layers of one published video track.
#[derive(Debug, Default)]
pub(crate) struct Layers {
    /// In the publisher's SDP order.
    layers: Vec<Layer>,
}

#[derive(Debug)]
struct Layer {
    rid: Rid,
    rate: RateMeter,
    /// str0m reported the stream paused (the browser stopped sending it, as
    /// Chrome does with its top layer when its own uplink is short).
    paused: bool,
}

/// What [`choose`] needs to know of one layer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct LayerView {
    pub rid: Rid,
    /// Bits per second, once measured.
    pub bps: Option<u64>,
    pub active: bool,
}

impl Layers {
    pub fn new(rids: impl IntoIterator<Item = Rid>) -> Self {
        Self {
            layers: rids
                .into_iter()
                .map(|rid| Layer {
                    rid,
                    rate: RateMeter::default(),
                    paused: false,
                })
                .collect(),
        }
    }

    pub fn is_simulcast(&self) -> bool {
        !self.layers.is_empty()
    }

    /// Counts a frame that arrived on `rid`. A rid the SDP did not announce
    /// (Firefox can send before its answer is applied) is added at the end.
    pub fn record(&mut self, now: Instant, rid: Rid, bytes: usize) {
        let index = match self.layers.iter().position(|l| l.rid == rid) {
            Some(index) => index,
            None => {
                self.layers.push(Layer {
                    rid,
                    rate: RateMeter::default(),
                    paused: false,
                });
                self.layers.len() - 1
            }
        };
        let layer = &mut self.layers[index];
        layer.paused = false;
        layer.rate.record(now, bytes);
    }

    pub fn set_paused(&mut self, rid: Rid, paused: bool) {
        if let Some(layer) = self.layers.iter_mut().find(|l| l.rid == rid) {
            layer.paused = paused;
        }
    }

    /// The layers from smallest to largest.
    pub fn ordered(&self) -> Vec<LayerView> {
        let mut views: Vec<LayerView> = self
            .layers
            .iter()
            .map(|l| LayerView {
                rid: l.rid,
                bps: l.rate.bps,
                active: !l.paused,
            })
            .collect();
        if views.iter().all(|v| v.bps.is_some()) {
            views.sort_by_key(|v| v.bps);
        }
        views
    }

    /// The rate of the largest active layer, what a subscriber would like to
    /// have room for.
    pub fn top_bps(&self) -> Option<u64> {
        self.ordered()
            .iter()
            .filter(|v| v.active)
            .filter_map(|v| v.bps)
            .max()
    }
}

/// Picks the layer for a subscriber with `budget` bits per second for this
/// track (`None`: no estimate yet), who now gets `current`.
///
/// **The answer is always an active layer if there is one**, and the smallest
/// when nothing is known or nothing fits: a picture that is too small beats
/// no picture.
pub(crate) fn choose(
    ordered: &[LayerView],
    budget: Option<u64>,
    current: Option<Rid>,
) -> Option<Rid> {
    let active: Vec<&LayerView> = ordered.iter().filter(|l| l.active).collect();
    let lowest = active.first().copied().or(ordered.first())?;
    let Some(budget) = budget else {
        return Some(lowest.rid);
    };
    let current_position = current.and_then(|rid| active.iter().position(|l| l.rid == rid));
    let mut best = lowest.rid;
    for (position, layer) in active.iter().enumerate() {
        let Some(bps) = layer.bps else {
            // Unmeasured layers are only taken as the fallback above.
            continue;
        };
        let is_upgrade = current_position.is_none_or(|c| position > c);
        let needed = if is_upgrade {
            bps as f64 * UPGRADE_HEADROOM
        } else {
            bps as f64
        };
        if needed <= budget as f64 {
            best = layer.rid;
        }
    }
    Some(best)
}

/// Bits per second over the last full window.
#[derive(Debug, Default)]
struct RateMeter {
    window_start: Option<Instant>,
    bytes: u64,
    bps: Option<u64>,
}

impl RateMeter {
    fn record(&mut self, now: Instant, bytes: usize) {
        let start = *self.window_start.get_or_insert(now);
        self.bytes += bytes as u64;
        let elapsed = now.saturating_duration_since(start);
        if elapsed >= RATE_WINDOW {
            let measured = (self.bytes as f64 * 8.0 / elapsed.as_secs_f64()) as u64;
            // Half the old and half the new: one burst (a keyframe) does not
            // swing the choice on its own.
            self.bps = Some(match self.bps {
                Some(old) => (old + measured) / 2,
                None => measured,
            });
            self.window_start = Some(now);
            self.bytes = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(rid: &str, kbps: Option<u64>, active: bool) -> LayerView {
        LayerView {
            rid: rid.into(),
            bps: kbps.map(|k| k * 1000),
            active,
        }
    }

    fn three() -> Vec<LayerView> {
        vec![
            view("l", Some(150), true),
            view("m", Some(500), true),
            view("h", Some(1500), true),
        ]
    }

    #[test]
    fn no_estimate_gets_the_lowest_layer() {
        assert_eq!(choose(&three(), None, None), Some("l".into()));
    }

    #[test]
    fn the_largest_layer_that_fits_the_budget() {
        assert_eq!(choose(&three(), Some(2_000_000), None), Some("h".into()));
        assert_eq!(choose(&three(), Some(700_000), None), Some("m".into()));
        assert_eq!(choose(&three(), Some(50_000), None), Some("l".into()));
    }

    #[test]
    fn moving_up_needs_headroom_but_staying_does_not() {
        // 520 kbit/s is above m's 500 but not by 15 %: from l, stay at l.
        assert_eq!(
            choose(&three(), Some(520_000), Some("l".into())),
            Some("l".into())
        );
        // Already at m, the same budget keeps m.
        assert_eq!(
            choose(&three(), Some(520_000), Some("m".into())),
            Some("m".into())
        );
        // Below m's rate, down to l at once.
        assert_eq!(
            choose(&three(), Some(480_000), Some("m".into())),
            Some("l".into())
        );
    }

    #[test]
    fn paused_layers_are_skipped() {
        let mut layers = three();
        layers[2].active = false;
        assert_eq!(choose(&layers, Some(5_000_000), None), Some("m".into()));
        layers[0].active = false;
        assert_eq!(choose(&layers, Some(10_000), None), Some("m".into()));
    }

    #[test]
    fn unmeasured_layers_keep_sdp_order_and_the_first_is_chosen() {
        let mut layers = Layers::new(["l".into(), "m".into(), "h".into()]);
        let start = Instant::now();
        layers.record(start, "h".into(), 10_000);
        let ordered = layers.ordered();
        assert_eq!(ordered[0].rid, Rid::from("l"));
        assert_eq!(choose(&ordered, Some(10_000_000), None), Some("l".into()));
    }

    #[test]
    fn measured_rates_order_the_layers() {
        // Listed largest first, as Chrome's own examples do.
        let mut layers = Layers::new(["h".into(), "l".into()]);
        let start = Instant::now();
        for ms in 0..=1000u64 {
            let now = start + Duration::from_millis(ms);
            if ms % 10 == 0 {
                layers.record(now, "h".into(), 1250); // 1 Mbit/s
                layers.record(now, "l".into(), 125); // 100 kbit/s
            }
        }
        let ordered = layers.ordered();
        assert_eq!(ordered[0].rid, Rid::from("l"));
        assert!(ordered[1].bps.unwrap() > 900_000);
        assert_eq!(layers.top_bps(), ordered[1].bps);
    }
}
