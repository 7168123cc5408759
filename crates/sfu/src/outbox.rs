//! The datagrams the SFU task sends after one step, grouped into batches.
//!
//! Sans-IO: datagrams in, batches out. A batch is datagrams to one
//! destination laid end to end, all the same size but the last (which may be
//! shorter): what Linux's UDP segmentation offload (GSO) sends with one
//! system call, and cuts back into datagrams on the way. A step of a room
//! often sends several datagrams to one browser (the packets of a video
//! frame, a retransmission, a report), and over all rooms many more; the
//! driver hands each batch to `quinn-udp` as one `Transmit`.
//!
//! **Datagrams to one destination keep their order**; those to different
//! destinations may go in any order, as they would on the network.

use std::net::SocketAddr;

/// The most bytes one batch holds: what one UDP packet may carry over IPv4
/// (65,507) with room to spare, since the kernel takes a GSO batch as one
/// packet before cutting it.
pub const MAX_BATCH_BYTES: usize = 60_000;

/// Datagrams waiting for the end of the step.
#[derive(Debug, Default)]
pub struct Outbox {
    datagrams: Vec<(SocketAddr, Vec<u8>)>,
}

/// Datagrams to one destination, end to end.
#[derive(Debug, PartialEq, Eq)]
pub struct Batch {
    pub destination: SocketAddr,
    pub contents: Vec<u8>,
    /// The size of each datagram in `contents` but the last, which may be
    /// shorter.
    pub segment_size: usize,
}

impl Batch {
    /// How many datagrams the batch holds.
    pub fn segments(&self) -> usize {
        self.contents.len().div_ceil(self.segment_size)
    }

    /// The datagrams, one by one (to send them singly when a batch could
    /// not go as one).
    pub fn datagrams(&self) -> impl Iterator<Item = &[u8]> {
        self.contents.chunks(self.segment_size)
    }
}

impl Outbox {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, destination: SocketAddr, bytes: Vec<u8>) {
        if !bytes.is_empty() {
            self.datagrams.push((destination, bytes));
        }
    }

    pub fn is_empty(&self) -> bool {
        self.datagrams.is_empty()
    }

    /// Takes everything waiting, as batches of at most `max_segments`
    /// datagrams (1: every datagram on its own) and [`MAX_BATCH_BYTES`]
    /// each.
    pub fn take_batches(&mut self, max_segments: usize) -> Vec<Batch> {
        let max_segments = max_segments.max(1);
        // Stable: the order to each destination is kept.
        self.datagrams.sort_by_key(|(destination, _)| *destination);
        let mut batches: Vec<Batch> = Vec::new();
        // Whether the last batch may take another datagram: it is not full
        // and its last datagram was a whole segment.
        let mut open = false;
        let mut count = 0;
        for (destination, bytes) in self.datagrams.drain(..) {
            if let Some(batch) = batches.last_mut()
                && open
                && batch.destination == destination
                && bytes.len() <= batch.segment_size
                && count < max_segments
                && batch.contents.len() + bytes.len() <= MAX_BATCH_BYTES
            {
                open = bytes.len() == batch.segment_size;
                batch.contents.extend_from_slice(&bytes);
                count += 1;
            } else {
                open = true;
                count = 1;
                batches.push(Batch {
                    destination,
                    segment_size: bytes.len(),
                    contents: bytes,
                });
            }
            if count == max_segments {
                open = false;
            }
        }
        batches
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// Every datagram of each destination, in the order sent.
    fn per_destination(batches: &[Batch]) -> Vec<(SocketAddr, Vec<Vec<u8>>)> {
        let mut out: Vec<(SocketAddr, Vec<Vec<u8>>)> = Vec::new();
        for batch in batches {
            let datagrams = batch.datagrams().map(<[u8]>::to_vec);
            match out.iter_mut().find(|(d, _)| *d == batch.destination) {
                Some((_, list)) => list.extend(datagrams),
                None => out.push((batch.destination, datagrams.collect())),
            }
        }
        out
    }

    #[test]
    fn datagrams_to_one_destination_go_together_in_order() {
        let mut outbox = Outbox::new();
        outbox.push(addr(2), vec![1; 10]);
        outbox.push(addr(1), vec![9; 4]);
        outbox.push(addr(2), vec![2; 10]);
        outbox.push(addr(2), vec![3; 7]);
        let batches = outbox.take_batches(64);
        assert!(outbox.is_empty());
        assert_eq!(batches.len(), 2);
        assert_eq!(
            per_destination(&batches),
            vec![
                (addr(1), vec![vec![9; 4]]),
                (addr(2), vec![vec![1; 10], vec![2; 10], vec![3; 7]]),
            ]
        );
        assert_eq!(batches[1].segment_size, 10);
        assert_eq!(batches[1].segments(), 3);
    }

    #[test]
    fn only_the_last_datagram_of_a_batch_is_shorter() {
        let mut outbox = Outbox::new();
        // 10, 6 (shorter: closes the batch), 10, 12 (longer: a new batch).
        for (byte, len) in [(1, 10), (2, 6), (3, 10), (4, 12), (5, 12)] {
            outbox.push(addr(1), vec![byte; len]);
        }
        let batches = outbox.take_batches(64);
        let shapes: Vec<(usize, usize)> = batches
            .iter()
            .map(|b| (b.segment_size, b.segments()))
            .collect();
        assert_eq!(shapes, vec![(10, 2), (10, 1), (12, 2)]);
        let sent: Vec<u8> = per_destination(&batches)[0]
            .1
            .iter()
            .map(|d| d[0])
            .collect();
        assert_eq!(sent, vec![1, 2, 3, 4, 5]);
    }

    #[test]
    fn batches_hold_at_most_the_segments_the_socket_takes() {
        let mut outbox = Outbox::new();
        for byte in 0..5 {
            outbox.push(addr(1), vec![byte; 8]);
        }
        let sizes: Vec<usize> = outbox.take_batches(2).iter().map(Batch::segments).collect();
        assert_eq!(sizes, vec![2, 2, 1]);
        for byte in 0..3 {
            outbox.push(addr(1), vec![byte; 8]);
        }
        assert_eq!(outbox.take_batches(1).len(), 3);
        // And at most MAX_BATCH_BYTES.
        let size = 1200;
        for _ in 0..64 {
            outbox.push(addr(1), vec![7; size]);
        }
        let batches = outbox.take_batches(64);
        assert!(batches.iter().all(|b| b.contents.len() <= MAX_BATCH_BYTES));
        assert_eq!(batches[0].segments(), MAX_BATCH_BYTES / size);
        assert_eq!(batches.iter().map(Batch::segments).sum::<usize>(), 64);
    }
}
