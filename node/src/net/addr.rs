//! How a raft member's network address is written into openraft's `BasicNode`:
//! `PEERID@ADDR1,ADDR2` (libp2p PeerId, then the multiaddrs it listens on).

use shoal_p2p::{Addr, PeerId};

pub fn encode(peer: &PeerId, addrs: &[Addr]) -> String {
    let list: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
    format!("{peer}@{}", list.join(","))
}

/// The peer and addresses in `s`; `None` if there is no peer id (an old or empty
/// entry). Unparseable addresses are skipped.
pub fn decode(s: &str) -> Option<(PeerId, Vec<Addr>)> {
    let (peer, addrs) = s.split_once('@').unwrap_or((s, ""));
    let peer = peer.parse().ok()?;
    let addrs = addrs
        .split(',')
        .filter(|a| !a.is_empty())
        .filter_map(|a| a.parse().ok())
        .collect();
    Some((peer, addrs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tolerance() {
        let peer = shoal_p2p::peer_id_of([3; 32]).unwrap();
        let addrs: Vec<Addr> = vec!["/ip4/127.0.0.1/tcp/7420".parse().unwrap()];
        let s = encode(&peer, &addrs);
        assert_eq!(decode(&s), Some((peer, addrs)));
        assert_eq!(decode(&format!("{peer}")), Some((peer, vec![])));
        assert_eq!(decode(""), None);
        assert_eq!(decode("nonsense@/ip4/1.2.3.4/tcp/1"), None);
    }
}
