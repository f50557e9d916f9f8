//! TLS from the binary (`wss://` and https), with rustls: the certificate chain and key the
//! `[tls]` config section names, loaded once, and the socket a room's task drives.
//!
//! The TLS handshake and the HTTP upgrade run on the connection's handshake task (tokio-rustls);
//! then the TCP socket and its rustls session move together into the room's task, like a plain
//! socket. There [`Socket`] gives the room the same non-blocking `Read`/`Write` as a plain TCP
//! socket: a read pulls TLS records from the socket until it has plaintext or the socket has
//! nothing; a write hands plaintext to rustls (whose buffer is bounded, so a client that stops
//! reading fills it and the write stalls as on a plain socket) and pushes records out. Records
//! rustls still holds are pushed again by [`Socket::flush_pending`] every tick.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::Path;
use std::sync::Arc;

use rustls::ServerConnection;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::ConfigError;

/// Plaintext bytes rustls may hold unwritten per connection; past it, a write accepts nothing
/// (the room then sees a stalled socket, as with a full kernel buffer).
const TLS_BUFFER: usize = 64 * 1024;
/// TLS records read per [`Socket::read`] at most before it says "nothing now".
const READS_PER_CALL: usize = 8;

/// Loads the PEM certificate chain and private key at these paths into a server config.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, ConfigError> {
    let invalid = |message: String| ConfigError::Invalid(format!("[tls] {message}"));
    let certs = CertificateDer::pem_file_iter(cert)
        .map_err(|error| invalid(format!("cannot read cert {}: {error}", cert.display())))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| invalid(format!("cert {}: {error}", cert.display())))?;
    if certs.is_empty() {
        return Err(invalid(format!(
            "cert {} holds no certificate",
            cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|error| invalid(format!("key {}: {error}", key.display())))?;
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|error| invalid(format!("certificate and key do not fit: {error}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A client's socket in its room's task: plain TCP, or TCP with a rustls session.
#[derive(Debug)]
pub enum Socket {
    /// `ws://`.
    Plain(TcpStream),
    /// `wss://`.
    Tls(Box<TlsSocket>),
}

/// A non-blocking TCP socket and its TLS session.
#[derive(Debug)]
pub struct TlsSocket {
    tcp: TcpStream,
    tls: ServerConnection,
    /// The write half is to be shut once rustls holds nothing more (after close_notify).
    shutting: bool,
}

impl Socket {
    /// A TLS socket from a TCP socket (non-blocking) and its established session.
    pub fn tls(tcp: TcpStream, mut tls: ServerConnection) -> Socket {
        tls.set_buffer_limit(Some(TLS_BUFFER));
        Socket::Tls(Box::new(TlsSocket {
            tcp,
            tls,
            shutting: false,
        }))
    }

    /// Whether bytes written to this socket are still held above the kernel (TLS records rustls
    /// could not push yet). A goodbye is not written until this is false too.
    pub fn holds_unwritten(&self) -> bool {
        match self {
            Socket::Plain(_) => false,
            Socket::Tls(socket) => socket.tls.wants_write(),
        }
    }

    /// Pushes out TLS records written earlier and still held (nothing for a plain socket).
    pub fn flush_pending(&mut self) -> io::Result<()> {
        match self {
            Socket::Plain(_) => Ok(()),
            Socket::Tls(socket) => socket.push_records(),
        }
    }

    /// Shuts the write half down. For TLS: a close_notify alert after everything already
    /// written, and the TCP write half once rustls has pushed all of it (here, or in a later
    /// [`Socket::flush_pending`]), so nothing written before is cut off.
    pub fn shutdown_write(&mut self) {
        match self {
            Socket::Plain(tcp) => {
                let _ = tcp.shutdown(Shutdown::Write);
            }
            Socket::Tls(socket) => {
                if !socket.shutting {
                    socket.shutting = true;
                    socket.tls.send_close_notify();
                }
                let _ = socket.push_records();
            }
        }
    }
}

impl TlsSocket {
    /// Writes held records until the socket takes no more; once all are out after a
    /// close_notify, shuts the TCP write half.
    fn push_records(&mut self) -> io::Result<()> {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut self.tcp) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(error) if error.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        if std::mem::take(&mut self.shutting) {
            let _ = self.tcp.shutdown(Shutdown::Write);
        }
        Ok(())
    }
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let socket = match self {
            Socket::Plain(tcp) => return tcp.read(buf),
            Socket::Tls(socket) => socket,
        };
        for _ in 0..READS_PER_CALL {
            match socket.tls.reader().read(buf) {
                // Plaintext, or 0: the peer's close_notify (a clean end).
                Ok(read) => return Ok(read),
                Err(error) if error.kind() == ErrorKind::WouldBlock => {}
                Err(error) => return Err(error),
            }
            match socket.tls.read_tls(&mut socket.tcp) {
                Ok(0) => return Ok(0),
                Ok(_) => {
                    let processed = socket.tls.process_new_packets();
                    // An alert for the peer (on an error too) goes out before anything else.
                    let _ = socket.push_records();
                    processed.map_err(io::Error::other)?;
                }
                Err(error) => return Err(error),
            }
        }
        Err(ErrorKind::WouldBlock.into())
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let socket = match self {
            Socket::Plain(tcp) => return tcp.write(buf),
            Socket::Tls(socket) => socket,
        };
        socket.push_records()?;
        let taken = socket.tls.writer().write(buf)?;
        socket.push_records()?;
        if taken == 0 && !buf.is_empty() {
            return Err(ErrorKind::WouldBlock.into());
        }
        Ok(taken)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flush_pending()
    }
}
