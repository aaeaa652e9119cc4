//! Listen addresses for nodes under test: bind port 0, read the real one back.

/// Loopback, any free TCP port (the node picks it when it binds).
pub const ANY_LOOPBACK: &str = "/ip4/127.0.0.1/tcp/0";

/// The TCP port of a multiaddr such as `/ip4/127.0.0.1/tcp/7420`.
pub fn tcp_port(addr: &str) -> Option<u16> {
    let mut parts = addr.split('/');
    parts.by_ref().find(|p| *p == "tcp")?;
    parts.next()?.parse().ok()
}

/// The first loopback TCP address among a node's listen addresses (with a real
/// port: a `/tcp/0` that has not been bound yet does not count).
pub fn loopback<S: AsRef<str>>(addrs: &[S]) -> Option<String> {
    addrs
        .iter()
        .map(AsRef::as_ref)
        .find(|a| a.starts_with("/ip4/127.0.0.1/tcp/") && tcp_port(a).is_some_and(|p| p != 0))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ports_and_picks_a_bound_loopback_address() {
        assert_eq!(tcp_port("/ip4/127.0.0.1/tcp/7420"), Some(7420));
        assert_eq!(tcp_port("/ip4/127.0.0.1/udp/7420/quic-v1"), None);
        assert_eq!(tcp_port("/ip4/127.0.0.1/tcp/x"), None);
        let addrs = [
            "/ip4/10.0.0.5/tcp/7420",
            "/ip4/127.0.0.1/tcp/0",
            "/ip4/127.0.0.1/tcp/41234",
        ];
        assert_eq!(
            loopback(&addrs).as_deref(),
            Some("/ip4/127.0.0.1/tcp/41234")
        );
        assert_eq!(loopback(&addrs[..2]), None);
    }
}
