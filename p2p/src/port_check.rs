//! Is a listen address's port free? libp2p binds its listeners with SO_REUSEPORT,
//! so a second node on the same port would bind beside the first and share its
//! connections. A plain bind (no SO_REUSEPORT) of the same address, closed at once,
//! fails when anything listens there.

use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};

use libp2p::multiaddr::Protocol;
use libp2p::Multiaddr;

use crate::P2pError;

/// Which socket a listen address opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    Tcp,
    Udp,
}

/// The IP, port and transport of `addr`, if it names a fixed port (not 0).
fn fixed_port(addr: &Multiaddr) -> Option<(SocketAddr, Transport)> {
    let mut ip = None;
    for p in addr.iter() {
        match p {
            Protocol::Ip4(a) => ip = Some(IpAddr::V4(a)),
            Protocol::Ip6(a) => ip = Some(IpAddr::V6(a)),
            Protocol::Tcp(port) if port != 0 => {
                return Some((SocketAddr::new(ip?, port), Transport::Tcp))
            }
            Protocol::Udp(port) if port != 0 => {
                return Some((SocketAddr::new(ip?, port), Transport::Udp))
            }
            Protocol::Tcp(_) | Protocol::Udp(_) => return None,
            _ => {}
        }
    }
    None
}

/// Fails with [`P2pError::PortInUse`] when something already listens on `addr`'s
/// port, or with [`P2pError::Listen`] when the address cannot be bound at all (not
/// an address of this host, a privileged port). An address with port 0 or without
/// an IP is left to libp2p.
pub fn ensure_free(addr: &Multiaddr) -> Result<(), P2pError> {
    let Some((socket, transport)) = fixed_port(addr) else {
        return Ok(());
    };
    match bind(socket, transport) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Err(P2pError::PortInUse {
            port: socket.port(),
            suggest: next_free(socket, transport),
        }),
        Err(e) => Err(P2pError::Listen {
            addr: addr.to_string(),
            detail: e.to_string(),
        }),
    }
}

fn bind(socket: SocketAddr, transport: Transport) -> std::io::Result<()> {
    match transport {
        Transport::Tcp => TcpListener::bind(socket).map(drop),
        Transport::Udp => UdpSocket::bind(socket).map(drop),
    }
}

/// The first port after `socket`'s that binds now (of the next 100), to suggest; the
/// next port when none does.
fn next_free(socket: SocketAddr, transport: Transport) -> u16 {
    let start = socket.port().max(1023);
    (1..=100u16)
        .filter_map(|i| start.checked_add(i))
        .find(|p| bind(SocketAddr::new(socket.ip(), *p), transport).is_ok())
        .unwrap_or_else(|| start.saturating_add(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ma(s: &str) -> Multiaddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_taken_port_is_named_and_a_free_one_passes() {
        let held = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = held.local_addr().unwrap().port();
        let err = ensure_free(&ma(&format!("/ip4/127.0.0.1/tcp/{port}"))).unwrap_err();
        assert!(
            matches!(err, P2pError::PortInUse { port: p, .. } if p == port),
            "{err}"
        );
        assert!(err.to_string().contains(&format!("port {port} is in use")));
        // The suggestion is a port that is free now, not just the next number.
        let next = TcpListener::bind(("127.0.0.1", port.wrapping_add(1)));
        if let Ok(next) = &next {
            let err = ensure_free(&ma(&format!("/ip4/127.0.0.1/tcp/{port}"))).unwrap_err();
            let P2pError::PortInUse { suggest, .. } = err else {
                panic!("{err}")
            };
            assert_ne!(suggest, next.local_addr().unwrap().port());
            TcpListener::bind(("127.0.0.1", suggest)).expect("the suggested port binds");
        }
        // The wildcard address overlaps the loopback listener too.
        let err = ensure_free(&ma(&format!("/ip4/0.0.0.0/tcp/{port}"))).unwrap_err();
        assert!(matches!(err, P2pError::PortInUse { .. }), "{err}");
        drop(held);
        ensure_free(&ma(&format!("/ip4/127.0.0.1/tcp/{port}"))).unwrap();
    }

    #[test]
    fn port_zero_and_udp_are_checked_as_such() {
        ensure_free(&ma("/ip4/127.0.0.1/tcp/0")).unwrap();
        let held = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = held.local_addr().unwrap().port();
        let err = ensure_free(&ma(&format!("/ip4/127.0.0.1/udp/{port}/quic-v1"))).unwrap_err();
        assert!(matches!(err, P2pError::PortInUse { .. }), "{err}");
    }

    #[test]
    fn an_address_not_of_this_host_is_a_listen_error() {
        let err = ensure_free(&ma("/ip4/192.0.2.1/tcp/7420")).unwrap_err();
        assert!(matches!(err, P2pError::Listen { .. }), "{err}");
    }
}
