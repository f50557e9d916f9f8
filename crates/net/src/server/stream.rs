//! A connection on its way in: plain TCP or TLS over it, as one async stream for the handshake
//! (HTTP request, upgrade, Hello, goodbye), turned into the room's non-blocking
//! [`Socket`] when the connection is handed to its room.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

use crate::tls::Socket;

/// A connection during its handshake.
#[derive(Debug)]
pub(crate) enum Stream {
    /// `ws://` and http.
    Plain(TcpStream),
    /// `wss://` and https.
    Tls(Box<TlsStream<TcpStream>>),
}

impl Stream {
    /// The socket for the room's task: out of tokio's reactor, non-blocking, with its TLS session
    /// (and whatever it already decrypted) when it has one.
    pub(crate) fn into_socket(self) -> io::Result<Socket> {
        match self {
            Stream::Plain(tcp) => Ok(Socket::Plain(tcp.into_std()?)),
            Stream::Tls(tls) => {
                let (tcp, session) = tls.into_inner();
                Ok(Socket::tls(tcp.into_std()?, session))
            }
        }
    }

    /// A stream handed back by a room that never took it.
    pub(crate) fn from_socket(socket: Socket) -> io::Result<Stream> {
        match socket {
            Socket::Plain(tcp) => Ok(Stream::Plain(TcpStream::from_std(tcp)?)),
            // A TLS session cannot go back into tokio-rustls: the caller drops it (the peer
            // sees the connection end without a close frame).
            Socket::Tls(_) => Err(io::ErrorKind::Unsupported.into()),
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_write(cx, buf),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_shutdown(cx),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
        }
    }
}
