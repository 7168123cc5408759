//! Who is speaking in a room, from the audio level each browser puts on its
//! microphone's packets (RFC 6464, `urn:ietf:params:rtp-hdrext:ssrc-audio-level`,
//! which str0m reads into `ExtensionValues::audio_level`: 0 dBov is the
//! loudest, -127 silence).
//!
//! Sans-IO: levels and time in, the list of speakers out when it changes.
//! **The list has hysteresis so that it does not flap**: a voice must be
//! heard in [`START_FRAMES`] of the last [`WINDOW`]'s audio frames to start
//! speaking, and stops only when fewer than [`STOP_FRAMES`] were voiced for
//! [`QUIET_TO_STOP`] and it has been speaking for at least [`MIN_SPEAKING`].
//! A pause between two sentences therefore keeps the speaker; a cough does
//! not make one.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::time::{Duration, Instant};

/// At or above this level (dBov) a frame counts as voiced. Browsers send
/// about -127 for silence and -40 to -20 for speech close to the
/// microphone.
pub(crate) const SPEECH_LEVEL: i8 = -50;

/// How far back levels are looked at.
pub(crate) const WINDOW: Duration = Duration::from_millis(500);

/// Voiced frames in the window (of about 25, one every 20 ms) to start
/// speaking.
pub(crate) const START_FRAMES: usize = 10;

/// Fewer voiced frames than this in the window, and a speaker stops.
pub(crate) const STOP_FRAMES: usize = 3;

/// A speaker must be (nearly) quiet this long to stop being one.
pub(crate) const QUIET_TO_STOP: Duration = Duration::from_millis(1000);

/// A speaker stays one at least this long.
pub(crate) const MIN_SPEAKING: Duration = Duration::from_millis(1500);

/// At most this many speakers are listed, loudest first.
pub(crate) const MAX_SPEAKERS: usize = 3;

/// Frames remembered per voice at most, however fast a browser sends.
const MAX_FRAMES: usize = 256;

/// One person's microphone.
#[derive(Debug, Default)]
struct Voice {
    /// Frames heard within the window: when, and how loud (0 to 127, the
    /// level above silence), voiced ones only.
    voiced: VecDeque<(Instant, u8)>,
    /// Since when this voice is a speaker.
    speaking_since: Option<Instant>,
    /// Since when fewer than `STOP_FRAMES` were voiced, as of the last look.
    quiet_since: Option<Instant>,
}

impl Voice {
    fn prune(&mut self, now: Instant) {
        while self
            .voiced
            .front()
            .is_some_and(|(at, _)| *at + WINDOW <= now)
        {
            self.voiced.pop_front();
        }
    }

    fn loudness(&self) -> u32 {
        let sum: u32 = self.voiced.iter().map(|(_, l)| u32::from(*l)).sum();
        sum / (self.voiced.len().max(1) as u32)
    }
}

/// The voices of one room, by whatever the room calls a person.
#[derive(Debug)]
pub(crate) struct Speakers<K> {
    voices: HashMap<K, Voice>,
    /// The list last given out.
    announced: Vec<K>,
}

impl<K> Default for Speakers<K> {
    fn default() -> Self {
        Self {
            voices: HashMap::new(),
            announced: Vec::new(),
        }
    }
}

impl<K: Clone + Eq + Hash + Ord> Speakers<K> {
    pub fn new() -> Self {
        Self::default()
    }

    /// An audio frame of `who`'s microphone at `level` dBov.
    pub fn heard(&mut self, who: &K, now: Instant, level: i8) {
        if level < SPEECH_LEVEL {
            return;
        }
        let voice = self.voices.entry(who.clone()).or_default();
        voice.prune(now);
        if voice.voiced.len() >= MAX_FRAMES {
            voice.voiced.pop_front();
        }
        // -127..=0 → 0..=127.
        let loudness = (i16::from(level.max(-127)) + 127) as u8;
        voice.voiced.push_back((now, loudness));
    }

    /// The speakers last given out by [`Speakers::update`], loudest first.
    pub fn announced(&self) -> &[K] {
        &self.announced
    }

    /// `who` is gone: no longer a speaker.
    pub fn forget(&mut self, who: &K) {
        self.voices.remove(who);
    }

    /// The speakers as of `now`, loudest first, if the set of them changed
    /// since the last call that returned one.
    pub fn update(&mut self, now: Instant) -> Option<Vec<K>> {
        for voice in self.voices.values_mut() {
            voice.prune(now);
            let voiced = voice.voiced.len();
            if voiced < STOP_FRAMES {
                voice.quiet_since.get_or_insert(now);
            } else {
                voice.quiet_since = None;
            }
            match (voice.speaking_since, voice.quiet_since) {
                (None, _) if voiced >= START_FRAMES => voice.speaking_since = Some(now),
                (Some(since), Some(quiet))
                    if now >= quiet + QUIET_TO_STOP && now >= since + MIN_SPEAKING =>
                {
                    voice.speaking_since = None;
                }
                _ => {}
            }
        }
        self.voices
            .retain(|_, voice| voice.speaking_since.is_some() || !voice.voiced.is_empty());
        let mut speaking: Vec<(&K, &Voice)> = self
            .voices
            .iter()
            .filter(|(_, voice)| voice.speaking_since.is_some())
            .collect();
        // Loudest first; the same loudness by who came first, then by key,
        // so the order does not depend on the map.
        speaking.sort_by(|(a_key, a), (b_key, b)| {
            b.loudness()
                .cmp(&a.loudness())
                .then(a.speaking_since.cmp(&b.speaking_since))
                .then(a_key.cmp(b_key))
        });
        let speakers: Vec<K> = speaking
            .into_iter()
            .take(MAX_SPEAKERS)
            .map(|(key, _)| key.clone())
            .collect();
        let mut old = self.announced.clone();
        let mut new = speakers.clone();
        old.sort();
        new.sort();
        if old == new {
            return None;
        }
        self.announced = speakers.clone();
        Some(speakers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: Duration = Duration::from_millis(20);
    const TICK: Duration = Duration::from_millis(200);

    /// Fake time: `who` talk (at their level, or are silent with `None`)
    /// for `duration`, one frame every 20 ms, the list looked at every
    /// 200 ms. Returns every list given out, with when.
    fn run(
        speakers: &mut Speakers<&'static str>,
        now: &mut Instant,
        duration: Duration,
        who: &[(&'static str, Option<i8>)],
    ) -> Vec<(Instant, Vec<&'static str>)> {
        let end = *now + duration;
        let mut next_tick = *now + TICK;
        let mut lists = Vec::new();
        while *now < end {
            for (name, level) in who {
                speakers.heard(name, *now, level.unwrap_or(-127));
            }
            *now += FRAME;
            if *now >= next_tick {
                next_tick += TICK;
                if let Some(list) = speakers.update(*now) {
                    lists.push((*now, list));
                }
            }
        }
        lists
    }

    #[test]
    fn someone_talking_becomes_a_speaker_and_a_pause_does_not_end_it() {
        let mut speakers = Speakers::new();
        let mut now = Instant::now();
        let lists = run(
            &mut speakers,
            &mut now,
            Duration::from_secs(2),
            &[("ada", Some(-30)), ("bob", None)],
        );
        assert_eq!(lists.len(), 1, "{lists:?}");
        assert_eq!(lists[0].1, vec!["ada"]);

        // Half a second between two sentences: still Ada.
        let pause = run(
            &mut speakers,
            &mut now,
            Duration::from_millis(600),
            &[("ada", None), ("bob", None)],
        );
        assert!(pause.is_empty(), "{pause:?}");
        let again = run(
            &mut speakers,
            &mut now,
            Duration::from_secs(1),
            &[("ada", Some(-30))],
        );
        assert!(again.is_empty(), "{again:?}");

        // Silence for good: she stops, once.
        let silence = run(
            &mut speakers,
            &mut now,
            Duration::from_secs(3),
            &[("ada", None)],
        );
        assert_eq!(silence.len(), 1, "{silence:?}");
        assert!(silence[0].1.is_empty());
    }

    #[test]
    fn a_short_noise_makes_no_speaker() {
        let mut speakers = Speakers::new();
        let mut now = Instant::now();
        let cough = run(
            &mut speakers,
            &mut now,
            Duration::from_millis(100),
            &[("bob", Some(-20))],
        );
        let after = run(
            &mut speakers,
            &mut now,
            Duration::from_secs(2),
            &[("bob", None)],
        );
        assert!(cough.is_empty() && after.is_empty(), "{cough:?} {after:?}");
        // Quiet murmur below the speech level neither.
        let murmur = run(
            &mut speakers,
            &mut now,
            Duration::from_secs(2),
            &[("bob", Some(-70))],
        );
        assert!(murmur.is_empty(), "{murmur:?}");
    }

    #[test]
    fn a_speaker_stays_at_least_the_minimum_even_if_they_stop_at_once() {
        let mut speakers = Speakers::new();
        let mut now = Instant::now();
        let start = now;
        let lists = run(
            &mut speakers,
            &mut now,
            Duration::from_millis(400),
            &[("ada", Some(-30))],
        );
        let (started, _) = lists[0];
        let lists = run(
            &mut speakers,
            &mut now,
            Duration::from_secs(3),
            &[("ada", None)],
        );
        let (stopped, ref list) = lists[0];
        assert!(list.is_empty());
        assert!(stopped >= started + MIN_SPEAKING, "{:?}", stopped - start);
    }

    #[test]
    fn two_at_once_loudest_first_and_a_forgotten_one_goes() {
        let mut speakers = Speakers::new();
        let mut now = Instant::now();
        let lists = run(
            &mut speakers,
            &mut now,
            Duration::from_secs(1),
            &[("ada", Some(-40)), ("bob", Some(-20)), ("cyd", None)],
        );
        assert_eq!(lists.last().unwrap().1, vec!["bob", "ada"]);
        // Bob goes quieter than Ada: the same two, no new list.
        let swapped = run(
            &mut speakers,
            &mut now,
            Duration::from_secs(1),
            &[("ada", Some(-20)), ("bob", Some(-45))],
        );
        assert!(swapped.is_empty(), "{swapped:?}");
        speakers.forget(&"bob");
        assert_eq!(speakers.update(now), Some(vec!["ada"]));
    }
}
