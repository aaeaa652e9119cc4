//! A userspace TCP proxy in front of a node's listen port, for slow and lossy links
//! (this kernel has no netem). Each direction of each connection is delayed by a
//! fixed latency plus jitter, order kept; "loss" is what TCP makes of it — a stall
//! of a retransmission timeout on a chunk — and, rarely, a reset connection.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// What the link through the proxy does to traffic.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Link {
    pub delay_ms: u64,
    pub jitter_ms: u64,
    /// Percent of chunks held back a retransmission timeout (200 ms) more.
    pub loss_pct: u64,
    /// Per mille of chunks that reset their connection.
    pub reset_permille: u64,
}

/// A running proxy; stops when dropped.
pub struct Proxy {
    link: Arc<Mutex<Link>>,
    _stop: watch::Sender<bool>,
}

impl Proxy {
    /// Listens on `listen` (inside namespace `ns`, if any) and forwards to `target`.
    pub fn start(
        ns: Option<&Path>,
        listen: SocketAddr,
        target: SocketAddr,
    ) -> anyhow::Result<Proxy> {
        let link = Arc::new(Mutex::new(Link::default()));
        let (stop, stopped) = watch::channel(false);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let l = link.clone();
        super::enter::spawn_in(ns, "proxy", move || async move {
            match TcpListener::bind(listen).await {
                Ok(listener) => {
                    let _ = ready_tx.send(Ok(()));
                    serve(listener, target, l, stopped).await;
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                }
            }
        })?;
        ready_rx
            .recv()
            .unwrap_or_else(|_| Err(std::io::Error::other("proxy thread ended")))
            .map_err(|e| anyhow::anyhow!("proxy cannot listen on {listen}: {e}"))?;
        Ok(Proxy { link, _stop: stop })
    }

    pub fn set(&self, link: Link) {
        *self.link.lock().unwrap_or_else(|p| p.into_inner()) = link;
    }
}

async fn serve(
    listener: TcpListener,
    target: SocketAddr,
    link: Arc<Mutex<Link>>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut seed = 0x5EED_u64 ^ u64::from(target.port());
    loop {
        let accepted = tokio::select! {
            _ = stopped.changed() => return,
            a = listener.accept() => a,
        };
        let Ok((inbound, _)) = accepted else { continue };
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let (link, stopped, s) = (link.clone(), stopped.clone(), seed);
        tokio::spawn(async move {
            let Ok(outbound) = TcpStream::connect(target).await else {
                return;
            };
            let _ = inbound.set_nodelay(true);
            let _ = outbound.set_nodelay(true);
            let (ri, wi) = inbound.into_split();
            let (ro, wo) = outbound.into_split();
            tokio::select! {
                _ = pipe(ri, wo, link.clone(), s) => {}
                _ = pipe(ro, wi, link, s ^ 0xA5A5) => {}
                _ = wait_stop(stopped) => {}
            }
        });
    }
}

async fn wait_stop(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.changed().await;
}

/// One direction: a reader stamps each chunk with its due time, a writer sends it
/// then; order is kept and throughput is not limited by the delay.
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    link: Arc<Mutex<Link>>,
    mut seed: u64,
) {
    let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>(1024);
    let writer = async move {
        while let Some((due, chunk)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
    };
    let reader = async move {
        let mut buf = vec![0u8; 64 * 1024];
        let mut last_due = Instant::now();
        loop {
            let n = match from.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let l = *link.lock().unwrap_or_else(|p| p.into_inner());
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            if l.reset_permille > 0 && seed % 1000 < l.reset_permille {
                return;
            }
            let mut ms = l.delay_ms
                + if l.jitter_ms > 0 {
                    (seed >> 8) % l.jitter_ms
                } else {
                    0
                };
            if l.loss_pct > 0 && (seed >> 20) % 100 < l.loss_pct {
                ms += 200;
            }
            let due = (Instant::now() + Duration::from_millis(ms)).max(last_due);
            last_due = due;
            if tx.send((due, buf[..n].to_vec())).await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        _ = writer => {}
        _ = reader => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_pass_through_in_order_and_late() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let target = echo.local_addr().unwrap();
            tokio::spawn(async move {
                let (mut s, _) = echo.accept().await.unwrap();
                let mut b = [0u8; 4096];
                loop {
                    let n = s.read(&mut b).await.unwrap();
                    if n == 0 {
                        return;
                    }
                    s.write_all(&b[..n]).await.unwrap();
                }
            });
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let listen: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
            let proxy = Proxy::start(None, listen, target).unwrap();
            proxy.set(Link {
                delay_ms: 50,
                ..Link::default()
            });
            let mut c = TcpStream::connect(listen).await.unwrap();
            let t = std::time::Instant::now();
            let msg: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
            c.write_all(&msg).await.unwrap();
            let mut back = vec![0u8; msg.len()];
            c.read_exact(&mut back).await.unwrap();
            assert_eq!(back, msg, "bytes changed or reordered");
            // Both directions are delayed.
            assert!(
                t.elapsed() >= Duration::from_millis(100),
                "{:?}",
                t.elapsed()
            );
        });
    }
}
