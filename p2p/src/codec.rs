//! Framing for Shoal's request-response protocols: a 4-byte big-endian length, then
//! that many bytes. Every read is bounded: a frame longer than the protocol's limit
//! is an error that closes that stream, never the node.

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::request_response::Codec;
use libp2p::StreamProtocol;

/// Opaque request and response bytes with size limits.
#[derive(Debug, Clone)]
pub struct FrameCodec {
    max_request: usize,
    max_response: usize,
}

impl FrameCodec {
    pub fn new(max_request: usize, max_response: usize) -> FrameCodec {
        FrameCodec {
            max_request,
            max_response,
        }
    }
}

async fn read_frame<T: AsyncRead + Unpin + Send>(io: &mut T, limit: usize) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("message of {len} bytes is over the limit of {limit}"),
        ));
    }
    let mut buf = vec![0u8; len];
    io.read_exact(&mut buf).await?;
    Ok(buf)
}

async fn write_frame<T: AsyncWrite + Unpin + Send>(
    io: &mut T,
    data: &[u8],
    limit: usize,
) -> io::Result<()> {
    if data.len() > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "message of {} bytes is over the limit of {limit}",
                data.len()
            ),
        ));
    }
    io.write_all(&(data.len() as u32).to_be_bytes()).await?;
    io.write_all(data).await?;
    io.flush().await
}

impl Codec for FrameCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io, self.max_request).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io, self.max_response).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &req, self.max_request).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &res, self.max_response).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::io::Cursor;

    #[test]
    fn round_trip_and_limits() {
        futures::executor::block_on(async {
            let mut buf = Cursor::new(Vec::new());
            write_frame(&mut buf, b"hello", 10).await.unwrap();
            assert!(write_frame(&mut buf, &[0; 11], 10).await.is_err());
            let bytes = buf.into_inner();
            assert_eq!(
                read_frame(&mut Cursor::new(bytes.clone()), 10)
                    .await
                    .unwrap(),
                b"hello"
            );
            let err = read_frame(&mut Cursor::new(bytes), 4).await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData);
            // A length prefix promising more than arrives is an error, not a hang.
            let short = [0, 0, 0, 9, 1, 2];
            assert!(read_frame(&mut Cursor::new(short.to_vec()), 10)
                .await
                .is_err());
        });
    }
}
