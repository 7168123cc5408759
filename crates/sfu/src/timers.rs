//! When each room next wants [`RoomInput::Timeout`](crate::RoomInput), in
//! time order, so the SFU task touches only the rooms that are due.
//!
//! Sans-IO: time is passed in. The task [`RoomTimers::set`]s a room's
//! timeout after every drain of it, asks [`RoomTimers::next`] how long it
//! may sleep and [`RoomTimers::due`] which rooms to wake. Both cost the
//! logarithm of the number of rooms plus the rooms due, never a scan of all.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use crate::signal::RoomId;

/// Every room's next timeout.
#[derive(Debug, Default)]
pub struct RoomTimers {
    /// The timeouts, earliest first. **Each room has exactly one entry,
    /// the one `at` holds**: setting a room's timeout moves its entry, and
    /// forgetting the room takes it out.
    queue: BTreeSet<(Instant, RoomId)>,
    /// Each room's entry in `queue`, to find it again without a scan.
    at: HashMap<RoomId, Instant>,
}

impl RoomTimers {
    pub fn new() -> Self {
        Self::default()
    }

    /// `room` next wants a timeout at `at` (and no longer at any earlier
    /// time it was set to).
    pub fn set(&mut self, room: &RoomId, at: Instant) {
        match self.at.get_mut(room) {
            Some(old) if *old == at => {}
            Some(old) => {
                let entry = self.queue.take(&(*old, room.clone()));
                *old = at;
                let room = entry.map_or_else(|| room.clone(), |(_, room)| room);
                self.queue.insert((at, room));
            }
            None => {
                self.at.insert(room.clone(), at);
                self.queue.insert((at, room.clone()));
            }
        }
    }

    /// The room is gone: it wants no timeout any more.
    pub fn forget(&mut self, room: &RoomId) {
        if let Some(at) = self.at.remove(room) {
            self.queue.remove(&(at, room.clone()));
        }
    }

    /// The earliest timeout of any room.
    pub fn next(&self) -> Option<Instant> {
        self.queue.first().map(|(at, _)| *at)
    }

    /// The rooms whose timeout is at or before `now`, earliest first. They
    /// stay in the queue until they are set again (after their drain).
    pub fn due(&self, now: Instant) -> Vec<RoomId> {
        self.queue
            .iter()
            .take_while(|(at, _)| *at <= now)
            .map(|(_, room)| room.clone())
            .collect()
    }

    /// How many rooms have a timeout.
    pub fn len(&self) -> usize {
        self.at.len()
    }

    pub fn is_empty(&self) -> bool {
        self.at.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn only_due_rooms_are_woken_earliest_first() {
        let start = Instant::now();
        let mut timers = RoomTimers::new();
        let (a, b, c) = (RoomId::from("a"), RoomId::from("b"), RoomId::from("c"));
        timers.set(&a, start + ms(30));
        timers.set(&b, start + ms(10));
        timers.set(&c, start + ms(20));

        assert_eq!(timers.next(), Some(start + ms(10)));
        assert!(timers.due(start + ms(5)).is_empty());
        assert_eq!(timers.due(start + ms(20)), vec![b.clone(), c.clone()]);
        assert_eq!(timers.due(start + ms(30)), vec![b, c, a]);
    }

    #[test]
    fn setting_again_moves_the_one_entry() {
        let start = Instant::now();
        let mut timers = RoomTimers::new();
        let (a, b) = (RoomId::from("a"), RoomId::from("b"));
        timers.set(&a, start + ms(10));
        timers.set(&b, start + ms(20));
        // Later: a is no longer due at 10 ms.
        timers.set(&a, start + ms(40));
        assert_eq!(timers.len(), 2);
        assert_eq!(timers.next(), Some(start + ms(20)));
        assert_eq!(timers.due(start + ms(30)), vec![b.clone()]);
        // Earlier again, and the same time twice: still one entry.
        timers.set(&a, start + ms(5));
        timers.set(&a, start + ms(5));
        assert_eq!(timers.due(start + ms(40)), vec![a, b]);
        assert_eq!(timers.len(), 2);
    }

    #[test]
    fn a_forgotten_room_is_never_due() {
        let start = Instant::now();
        let mut timers = RoomTimers::new();
        let (a, b) = (RoomId::from("a"), RoomId::from("b"));
        timers.set(&a, start + ms(10));
        timers.set(&b, start + ms(20));
        timers.forget(&a);
        timers.forget(&a);
        assert_eq!(timers.next(), Some(start + ms(20)));
        assert_eq!(timers.due(start + ms(60)), vec![b.clone()]);
        timers.forget(&b);
        assert!(timers.is_empty());
        assert_eq!(timers.next(), None);
    }
}
