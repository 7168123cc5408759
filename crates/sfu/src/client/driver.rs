//! The one tokio driver of a [`ClientPeer`]: it owns a UDP socket, sends
//! what the peer transmits, and feeds it datagrams and timeouts.
//!
//! The socket is bound to the unspecified address (port 0), so a worker on
//! another host reaches a remote SFU as well as a test reaches a local one.
//! str0m only takes a datagram with the host candidate it arrived on, and a
//! socket bound to the unspecified address does not say which that was; the
//! candidate is the local address the kernel routes to the server from
//! (asked by connecting a second UDP socket, which sends nothing), and
//! every datagram is taken as sent to it. A host with several routes to the
//! server picks one, as a browser's first host candidate would.
//!
//! The caller keeps the signalling and its own timers: it awaits
//! [`ClientDriver::next_event`] in a `select!` beside them and changes the
//! peer through [`ClientDriver::peer`] in between.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Instant;

use tokio::net::UdpSocket;

use super::{ClientError, ClientEvent, ClientInput, ClientOutput, ClientPeer};

/// A datagram larger than this is not WebRTC (str0m keeps below 1200 bytes).
const MAX_DATAGRAM: usize = 2048;

/// A [`ClientPeer`] on a UDP socket of its own.
pub struct ClientDriver {
    socket: UdpSocket,
    peer: ClientPeer,
    /// Reused for every datagram received.
    buf: Vec<u8>,
}

impl ClientDriver {
    /// Binds a UDP socket of `server`'s family on any address and port, and
    /// makes a peer whose host candidate is the local address that reaches
    /// `server` (see the module docs).
    pub async fn bind(server: IpAddr) -> io::Result<Self> {
        let unspecified = match server {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        };
        let socket = UdpSocket::bind(SocketAddr::new(unspecified, 0)).await?;
        let port = socket.local_addr()?.port();
        let local = SocketAddr::new(route_to(unspecified, server)?, port);
        let peer = ClientPeer::new(local, Instant::now()).map_err(io::Error::other)?;
        Ok(Self {
            socket,
            peer,
            buf: vec![0; MAX_DATAGRAM],
        })
    }

    /// The peer, to offer, answer and write frames through. What a change
    /// makes it send goes out on the next [`Self::next_event`].
    pub fn peer(&mut self) -> &mut ClientPeer {
        &mut self.peer
    }

    /// Sends what the peer has to send, then feeds it datagrams and
    /// timeouts until it has an event. An error means the connection is
    /// gone for good.
    ///
    /// Cancel safe: nothing is lost when another branch of a `select!` wins.
    pub async fn next_event(&mut self) -> Result<ClientEvent, ClientError> {
        let mut due_rounds = 0;
        loop {
            if !self.peer.is_alive() {
                return Err(ClientError::Closed);
            }
            let timeout = loop {
                match self.peer.poll_output() {
                    ClientOutput::Transmit {
                        destination,
                        contents,
                    } => self.send(destination, &contents),
                    ClientOutput::Event(event) => return Ok(event),
                    ClientOutput::Timeout(at) => break at,
                }
            };
            // A timeout already due is handled now: tokio's timer would
            // round it up to its next millisecond. Only so many in a row:
            // an engine that keeps asking must not keep this task from
            // yielding (the timer below does).
            let now = Instant::now();
            if timeout <= now && due_rounds < MAX_DUE_ROUNDS {
                due_rounds += 1;
                if let Err(error) = self.peer.handle_input(ClientInput::Timeout(now)) {
                    tracing::debug!(%error, "client peer refused an input");
                }
                continue;
            }
            let input = tokio::select! {
                received = self.socket.recv_from(&mut self.buf) => match received {
                    Ok((len, source)) => ClientInput::Receive {
                        at: Instant::now(),
                        source,
                        contents: &self.buf[..len],
                    },
                    // Linux reports ICMP errors for earlier sends here.
                    Err(_) => continue,
                },
                () = tokio::time::sleep_until(timeout.into()) => ClientInput::Timeout(Instant::now()),
            };
            if let Err(error) = self.peer.handle_input(input) {
                // A datagram str0m refuses leaves the connection as it was.
                tracing::debug!(%error, "client peer refused an input");
            }
        }
    }

    /// Sends without waiting, so a cancelled `next_event` never drops half a
    /// datagram; a full send buffer loses the datagram, as the network may.
    fn send(&self, destination: SocketAddr, contents: &[u8]) {
        if let Err(error) = self.socket.try_send_to(contents, destination) {
            tracing::debug!(%destination, %error, "client peer send failed");
        }
    }
}

/// How many timeouts already due [`ClientDriver::next_event`] handles in a
/// row before it waits on tokio's timer, which yields.
const MAX_DUE_ROUNDS: usize = 64;

/// The local address the kernel sends to `server` from.
fn route_to(unspecified: IpAddr, server: IpAddr) -> io::Result<IpAddr> {
    let probe = std::net::UdpSocket::bind(SocketAddr::new(unspecified, 0))?;
    // Any port: connecting a UDP socket only picks the route.
    probe.connect(SocketAddr::new(server, 9))?;
    Ok(probe.local_addr()?.ip())
}
