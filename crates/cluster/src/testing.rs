//! A real Redis for tests: Debian's `redis-server` started on a Unix socket in a fresh temporary
//! directory (no TCP port, no persistence), stopped when dropped. Without `redis-server`
//! installed, [`RedisServer::start`] prints one loud "skipped" line and returns None, unless
//! `TICKWIRE_REQUIRE_REDIS` is set (as `.ci/run` does), in which case it panics.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `redis-server`.
#[derive(Debug)]
pub struct RedisServer {
    child: Child,
    dir: PathBuf,
    socket: PathBuf,
}

impl RedisServer {
    /// Starts one, or None (after saying so) when Redis is not installed and not required.
    pub fn start(test: &str) -> Option<RedisServer> {
        let installed = Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !installed {
            if std::env::var_os("TICKWIRE_REQUIRE_REDIS").is_some() {
                panic!("TICKWIRE_REQUIRE_REDIS is set but redis-server is not installed");
            }
            eprintln!(
                "\n*** skipped: redis-server not installed ({test}); apt-get install redis-server ***\n"
            );
            return None;
        }
        let dir = std::env::temp_dir().join(format!(
            "tickwire-redis-{}-{}-{test}",
            std::process::id(),
            Instant::now().elapsed().as_nanos()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let socket = dir.join("redis.sock");
        let child = spawn(&dir, &socket);
        let server = RedisServer { child, dir, socket };
        server.wait_ready();
        Some(server)
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.socket.exists() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not start in 10 s"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// `redis+unix:///...` for this server.
    pub fn url(&self) -> String {
        format!("redis+unix://{}", self.socket.display())
    }

    /// Stops the server abruptly (as a crash would).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.socket);
    }

    /// Starts it again, empty, on the same socket.
    pub fn restart_empty(&mut self) {
        self.kill();
        self.child = spawn(&self.dir, &self.socket);
        self.wait_ready();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `redis-server` on a Unix socket only (no TCP port), without persistence, in `dir`.
fn spawn(dir: &std::path::Path, socket: &std::path::Path) -> Child {
    Command::new("redis-server")
        .args([
            "--port",
            "0",
            "--save",
            "",
            "--appendonly",
            "no",
            "--unixsocketperm",
            "700",
        ])
        .arg("--unixsocket")
        .arg(socket)
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server starts")
}
