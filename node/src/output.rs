//! Job output across nodes: the full output stays on the node that ran the attempt;
//! another node fetches it in bounded chunks over the p2p RPC protocol.

use std::io::{Read, Seek, SeekFrom};

use axum::body::Bytes;
use futures::{Stream, StreamExt};
use shoal_home::Home;
use shoal_types::api::LogStream;
use shoal_types::{JobId, NodeId};

use crate::net::{message, LogChunk, Net};

/// Largest chunk asked for or served.
pub const CHUNK: u64 = 256 << 10;

fn stream_name(s: LogStream) -> &'static str {
    match s {
        LogStream::Stdout => "stdout",
        LogStream::Stderr => "stderr",
    }
}

/// Serves `len` bytes (at most [`CHUNK`]) from `offset` of one attempt's output. The
/// path comes from the ids only; a missing file reads as empty.
pub fn read_chunk(
    home: &Home,
    job: JobId,
    attempt: u32,
    stream: LogStream,
    offset: u64,
    len: u64,
) -> Result<LogChunk, String> {
    let path = home.output_file(job, attempt, stream_name(stream));
    let mut f = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(LogChunk {
                data: String::new(),
                eof: true,
            })
        }
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let size = f.metadata().map(|m| m.len()).unwrap_or(0);
    let want = len.min(CHUNK);
    let mut buf = Vec::with_capacity(want as usize);
    f.seek(SeekFrom::Start(offset))
        .and_then(|_| f.take(want).read_to_end(&mut buf))
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(LogChunk {
        eof: offset + buf.len() as u64 >= size,
        data: hex::encode(&buf),
    })
}

/// Why another node's copy of an output could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RemoteOutputError {
    #[error("node {node} cannot be reached: {why}")]
    Unreachable { node: NodeId, why: String },
    #[error("node {node} could not read it: {why}")]
    Refused { node: NodeId, why: String },
}

/// Where one attempt's output lives.
#[derive(Clone)]
pub struct Remote {
    pub net: Net,
    pub node: NodeId,
    pub job: JobId,
    pub attempt: u32,
    pub stream: LogStream,
}

impl Remote {
    async fn chunk(&self, offset: u64) -> Result<(Vec<u8>, bool), RemoteOutputError> {
        let node = self.node;
        let req = message::Logs {
            job: self.job,
            attempt: self.attempt,
            stream: self.stream,
            offset,
            len: CHUNK,
        };
        match self.net.call(node.0, req, None).await {
            Ok(Ok(chunk)) => {
                let data = hex::decode(&chunk.data).map_err(|e| RemoteOutputError::Refused {
                    node,
                    why: format!("an unreadable chunk: {e}"),
                })?;
                Ok((data, chunk.eof))
            }
            Ok(Err(why)) => Err(RemoteOutputError::Refused { node, why }),
            Err(e) => Err(RemoteOutputError::Unreachable {
                node,
                why: e.to_string(),
            }),
        }
    }

    /// Fetches the first chunk now (so an unreachable node is an error the caller
    /// can report), then streams the rest.
    pub async fn open(
        self,
        offset: u64,
    ) -> Result<impl Stream<Item = Result<Bytes, std::io::Error>>, RemoteOutputError> {
        let (first, eof) = self.chunk(offset).await?;
        let next = (!eof && !first.is_empty()).then_some(offset + first.len() as u64);
        let rest = futures::stream::unfold(next, move |offset| {
            let this = self.clone();
            async move {
                let offset = offset?;
                match this.chunk(offset).await {
                    Ok((data, eof)) => {
                        let next = (!eof && !data.is_empty()).then_some(offset + data.len() as u64);
                        Some((Ok(Bytes::from(data)), next))
                    }
                    Err(e) => Some((Err(std::io::Error::other(e)), None)),
                }
            }
        });
        Ok(futures::stream::once(async move { Ok(Bytes::from(first)) }).chain(rest))
    }
}
