//! The addresses the SFU tells browsers to send media to (its ICE host
//! candidates), and which of them a datagram arrived on.
//!
//! str0m only answers an ICE check that arrived on one of its local
//! candidates, so every datagram must be handed over with the candidate
//! address it was sent to. A socket bound to one address knows that; one
//! bound to `0.0.0.0` does not (the kernel would say through `IP_PKTINFO`,
//! which needs `unsafe` or a platform crate), so [`HostCandidates::destination_for`]
//! infers it:
//!
//! - with `--public-ip` (a host behind a 1:1 NAT, as in most clouds) there is
//!   one candidate, the public address, and everything arrives on it;
//! - a browser on the same machine sends from the very address it sends to
//!   (loopback, or the host's own interface address);
//! - anything else arrived on the first non-loopback interface.
//!
//! That is right for a host with one network interface. A host with several
//! should bind `--rtc-udp` to the one address browsers reach.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// The SFU's host candidates, all on the one UDP port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostCandidates {
    /// Never empty. Non-loopback addresses come first.
    addrs: Vec<SocketAddr>,
}

impl HostCandidates {
    /// Works out the candidates for a socket bound to `bound`.
    ///
    /// - `public_ip` given: that address alone, on the bound port;
    /// - bound to a specific address: that address;
    /// - bound to the unspecified address: every up interface of the same
    ///   family (link-local ones left out), loopback last; loopback alone on a
    ///   machine with nothing else.
    pub fn discover(bound: SocketAddr, public_ip: Option<IpAddr>) -> io::Result<Self> {
        let port = bound.port();
        if let Some(ip) = public_ip {
            return Ok(Self::new(vec![SocketAddr::new(ip, port)]));
        }
        if !bound.ip().is_unspecified() {
            return Ok(Self::new(vec![bound]));
        }
        let mut ips: Vec<IpAddr> = if_addrs::get_if_addrs()?
            .into_iter()
            .map(|interface| interface.ip())
            .filter(|ip| ip.is_ipv4() == bound.is_ipv4())
            .filter(|ip| match ip {
                IpAddr::V6(v6) => !v6.is_unicast_link_local(),
                IpAddr::V4(v4) => !v4.is_link_local(),
            })
            .collect();
        if ips.is_empty() {
            ips.push(IpAddr::V4(Ipv4Addr::LOCALHOST));
        }
        Ok(Self::new(
            ips.into_iter()
                .map(|ip| SocketAddr::new(ip, port))
                .collect(),
        ))
    }

    /// The given addresses, non-loopback ones first.
    ///
    /// # Panics
    /// If `addrs` is empty: an SFU nobody can reach is a configuration bug.
    pub fn new(mut addrs: Vec<SocketAddr>) -> Self {
        assert!(
            !addrs.is_empty(),
            "an SFU needs at least one host candidate"
        );
        addrs.sort_by_key(|a| a.ip().is_loopback());
        addrs.dedup();
        Self { addrs }
    }

    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The candidate a datagram from `source` was (by the rules in the module
    /// docs) sent to.
    pub fn destination_for(&self, source: SocketAddr) -> SocketAddr {
        if let Some(same) = self.addrs.iter().find(|a| a.ip() == source.ip()) {
            return *same;
        }
        if source.ip().is_loopback()
            && let Some(loopback) = self.addrs.iter().find(|a| a.ip().is_loopback())
        {
            return *loopback;
        }
        self.addrs[0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn public_ip_is_the_only_candidate_and_takes_everything() {
        let c =
            HostCandidates::discover(addr("0.0.0.0:50000"), Some("203.0.113.7".parse().unwrap()))
                .unwrap();
        assert_eq!(c.addrs(), &[addr("203.0.113.7:50000")]);
        assert_eq!(
            c.destination_for(addr("198.51.100.1:6000")),
            addr("203.0.113.7:50000")
        );
    }

    #[test]
    fn a_specific_bind_address_is_the_candidate() {
        let c = HostCandidates::discover(addr("127.0.0.1:4000"), None).unwrap();
        assert_eq!(c.addrs(), &[addr("127.0.0.1:4000")]);
    }

    #[test]
    fn unspecified_bind_lists_interfaces_of_its_family() {
        let c = HostCandidates::discover(addr("0.0.0.0:4000"), None).unwrap();
        assert!(!c.addrs().is_empty());
        assert!(c.addrs().iter().all(|a| a.is_ipv4() && a.port() == 4000));
    }

    #[test]
    fn destinations_follow_the_source() {
        let c = HostCandidates::new(vec![addr("127.0.0.1:9"), addr("10.1.2.3:9")]);
        assert_eq!(c.addrs()[0], addr("10.1.2.3:9"), "non-loopback first");
        assert_eq!(
            c.destination_for(addr("127.0.0.1:5555")),
            addr("127.0.0.1:9")
        );
        assert_eq!(c.destination_for(addr("10.1.2.3:5555")), addr("10.1.2.3:9"));
        assert_eq!(
            c.destination_for(addr("192.0.2.44:5555")),
            addr("10.1.2.3:9")
        );
    }
}
