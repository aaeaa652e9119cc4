//! Client of a Shoal node's HTTP/JSON API over its Unix socket. One `Client` keeps
//! one idle HTTP/1 connection and reuses it for its next call (keep-alive); calls
//! made at the same time through clones open their own. Used by the `shoal` CLI and
//! by the testnet, which drive nodes like users.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde::Serialize;
use shoal_types::api::{ApiError, ErrorCode};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::UnixStream;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing answers on the socket (node not running).
    #[error("cannot reach the node at {socket}: {detail}")]
    Connect { socket: PathBuf, detail: String },
    /// The node answered with an error.
    #[error("{message}")]
    Api { code: ErrorCode, message: String },
    /// The answer was not what the API promises.
    #[error("unexpected answer from the node: {0}")]
    Protocol(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The node did not answer in time (frozen, overloaded, or stuck on a write).
    #[error("the node did not answer within {} s", .after.as_secs())]
    NoAnswer { after: std::time::Duration },
}

type Sender = SendRequest<Full<Bytes>>;

/// A client of one node's socket.
#[derive(Debug, Clone)]
pub struct Client {
    socket: PathBuf,
    /// The connection of the last finished call, ready for the next one.
    idle: Arc<Mutex<Option<Sender>>>,
}

impl Client {
    pub fn new(socket: impl Into<PathBuf>) -> Client {
        Client {
            socket: socket.into(),
            idle: Arc::default(),
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    fn connect_error(&self, e: &dyn std::fmt::Display) -> ClientError {
        ClientError::Connect {
            socket: self.socket.clone(),
            detail: e.to_string(),
        }
    }

    async fn connect(&self) -> Result<Sender, ClientError> {
        let stream = UnixStream::connect(&self.socket)
            .await
            .map_err(|e| self.connect_error(&e))?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| self.connect_error(&e))?;
        tokio::spawn(conn);
        Ok(sender)
    }

    /// The idle connection if it is still usable.
    async fn reuse(&self) -> Option<Sender> {
        let mut sender = self.idle.lock().ok()?.take()?;
        sender.ready().await.ok()?;
        Some(sender)
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(Sender, hyper::Response<hyper::body::Incoming>), ClientError> {
        let body = Bytes::from(body.unwrap_or_default());
        let request = || {
            Request::builder()
                .method(method.clone())
                .uri(path)
                .header("host", "shoal")
                .header("content-type", "application/json")
                .body(Full::new(body.clone()))
                .map_err(|e| ClientError::Protocol(e.to_string()))
        };
        if let Some(mut sender) = self.reuse().await {
            match sender.send_request(request()?).await {
                Ok(resp) => return Ok((sender, resp)),
                // Closed before the request went out: nothing reached the node, so
                // sending it again on a new connection cannot duplicate it.
                Err(e) if e.is_canceled() => {}
                Err(e) => return Err(self.connect_error(&e)),
            }
        }
        let mut sender = self.connect().await?;
        let resp = sender
            .send_request(request()?)
            .await
            .map_err(|e| self.connect_error(&e))?;
        Ok((sender, resp))
    }

    /// Parks the connection of a call whose response has been read in full.
    fn park(&self, sender: Sender) {
        if let Ok(mut idle) = self.idle.lock() {
            *idle = Some(sender);
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Bytes, ClientError> {
        let (sender, resp) = self.send(method, path, body).await?;
        let status = resp.status();
        let bytes = collect(resp).await?;
        self.park(sender);
        if status.is_success() {
            Ok(bytes)
        } else {
            Err(api_error(status, &bytes))
        }
    }

    /// `GET path`, decoded from JSON.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let bytes = self.call(Method::GET, path, None).await?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Protocol(e.to_string()))
    }

    /// `POST path` with a JSON body, decoded from JSON.
    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        let body = serde_json::to_vec(body).map_err(|e| ClientError::Protocol(e.to_string()))?;
        let bytes = self.call(Method::POST, path, Some(body)).await?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Protocol(e.to_string()))
    }

    /// `GET path`, copying the raw body to `out` as it arrives (job output);
    /// returns the number of bytes copied.
    /// [`Client::post`], giving up with [`ClientError::NoAnswer`] after `limit`.
    pub async fn post_within<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        limit: std::time::Duration,
    ) -> Result<T, ClientError> {
        tokio::time::timeout(limit, self.post(path, body))
            .await
            .unwrap_or(Err(ClientError::NoAnswer { after: limit }))
    }

    pub async fn copy_to<W: AsyncWrite + Unpin>(
        &self,
        path: &str,
        out: &mut W,
    ) -> Result<u64, ClientError> {
        let mut copied = 0u64;
        let (sender, mut resp) = self.send(Method::GET, path, None).await?;
        let status = resp.status();
        if !status.is_success() {
            let bytes = collect(resp).await?;
            return Err(api_error(status, &bytes));
        }
        while let Some(frame) = resp.body_mut().frame().await {
            let frame = frame.map_err(|e| ClientError::Protocol(e.to_string()))?;
            if let Some(data) = frame.data_ref() {
                out.write_all(data).await?;
                copied += data.len() as u64;
            }
        }
        out.flush().await?;
        self.park(sender);
        Ok(copied)
    }
}

async fn collect(resp: hyper::Response<hyper::body::Incoming>) -> Result<Bytes, ClientError> {
    Ok(resp
        .into_body()
        .collect()
        .await
        .map_err(|e| ClientError::Protocol(e.to_string()))?
        .to_bytes())
}

fn api_error(status: StatusCode, body: &[u8]) -> ClientError {
    match serde_json::from_slice::<ApiError>(body) {
        Ok(e) => ClientError::Api {
            code: e.code,
            message: e.message,
        },
        Err(_) => ClientError::Protocol(format!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(body).trim()
        )),
    }
}
