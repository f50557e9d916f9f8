//! A real PostgreSQL for tests: Debian's `postgresql` package binaries
//! (`/usr/lib/postgresql/<version>/bin/initdb` and `postgres`) run on a fresh cluster in a
//! temporary directory, listening only on a Unix socket there (no TCP port), stopped and removed
//! when dropped. Without the binaries, [`PostgresServer::start`] prints one loud "skipped" line
//! and returns None, unless `TICKWIRE_REQUIRE_POSTGRES` is set (as `.ci/run` does), in which
//! case it panics.
//!
//! PostgreSQL refuses to run as root, and CI runs tests as root: then the server runs as the
//! `postgres` user the package creates (through `runuser`), in a directory under `/tmp` that
//! user owns. Otherwise it runs as the current user under the temporary directory.
//!
//! The harness's own connections run on a thread of their own, so it may be used from async
//! tests too.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A running PostgreSQL server with a `tickwire` database; superuser `postgres`, trust
/// authentication on its socket.
#[derive(Debug)]
pub struct PostgresServer {
    /// `postgres` itself, or `runuser` waiting on it when running as root.
    child: Child,
    /// Holds the cluster (`data/`), the socket and the server's log.
    dir: PathBuf,
}

/// Tells apart the servers one test process starts.
static NEXT_SERVER: AtomicU32 = AtomicU32::new(0);

impl PostgresServer {
    /// Starts one, or None (after saying so) when PostgreSQL is not installed and not required.
    pub fn start(test: &str) -> Option<PostgresServer> {
        let Some(bin) = binaries() else {
            if std::env::var_os("TICKWIRE_REQUIRE_POSTGRES").is_some() {
                panic!(
                    "TICKWIRE_REQUIRE_POSTGRES is set but postgresql is not installed \
                     (no /usr/lib/postgresql/*/bin/initdb)"
                );
            }
            eprintln!(
                "\n*** skipped: postgresql not installed ({test}); apt-get install postgresql ***\n"
            );
            return None;
        };
        let as_root = running_as_root();
        // As root, the server's user must reach the directory: /tmp is open to every user,
        // a root's TMPDIR may not be. The name stays short: a socket path has ~100 bytes.
        let base = if as_root {
            PathBuf::from("/tmp")
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!(
            "tickwire-pg-{}-{}",
            std::process::id(),
            NEXT_SERVER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        if as_root {
            let chown = Command::new("chown")
                .arg("postgres:postgres")
                .arg(&dir)
                .status()
                .expect("chown runs");
            assert!(
                chown.success(),
                "chown postgres:postgres {} failed (does the postgres user exist?)",
                dir.display()
            );
        }
        let log_path = dir.join("server.log");
        let log = || {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log_path)
                .expect("the server log");
            (
                Stdio::from(file.try_clone().expect("the server log")),
                Stdio::from(file),
            )
        };
        let (stdout, stderr) = log();
        let initdb = as_server_user(as_root, &bin.join("initdb"))
            .arg("-D")
            .arg(dir.join("data"))
            .args([
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .current_dir(&dir)
            .stdout(stdout)
            .stderr(stderr)
            .status()
            .expect("initdb runs");
        if !initdb.success() {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            let _ = std::fs::remove_dir_all(&dir);
            panic!("initdb failed ({initdb}):\n{log}");
        }
        let (stdout, stderr) = log();
        let child = as_server_user(as_root, &bin.join("postgres"))
            .arg("-D")
            .arg(dir.join("data"))
            .arg("-k")
            .arg(&dir)
            .args([
                "-c",
                "listen_addresses=",
                "-c",
                "fsync=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "shared_buffers=16MB",
            ])
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("postgres starts");
        let mut server = PostgresServer { child, dir };
        server.wait_ready();
        server.execute("postgres", "CREATE DATABASE tickwire");
        Some(server)
    }

    /// Polls connecting until the server answers (10 s at most).
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().expect("the server's status") {
                panic!("postgres exited ({status}):\n{}", self.log());
            }
            let connected =
                self.on_own_thread("postgres", |client| client.simple_query("SELECT 1"));
            match connected {
                Ok(_) => return,
                Err(error) if Instant::now() >= deadline => {
                    panic!("postgres did not start in 10 s: {error}\n{}", self.log())
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// The directory holding the server's socket (its `host` for clients).
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    /// A `postgresql://` URL for the `tickwire` database.
    pub fn url(&self) -> String {
        self.url_of("tickwire")
    }

    /// A `postgresql://` URL for `database` on this server.
    pub fn url_of(&self, database: &str) -> String {
        format!(
            "postgresql://postgres@/{database}?host={}",
            self.dir.display()
        )
    }

    /// Creates another (empty) database and returns its URL.
    pub fn create_database(&self, database: &str) -> String {
        self.execute("postgres", &format!("CREATE DATABASE \"{database}\""));
        self.url_of(database)
    }

    /// Ends every session on `database` but the harness's own (as `pg_terminate_backend`
    /// does when an operator or a failover does it), to test reconnecting. Returns how many.
    pub fn terminate_sessions(&self, database: &str) -> usize {
        let database = database.to_owned();
        self.on_own_thread("postgres", move |client| {
            client
                .query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                     WHERE datname = $1 AND pid <> pg_backend_pid()",
                    &[&database],
                )
                .map(|rows| rows.len())
        })
        .expect("terminating sessions")
    }

    /// Runs `sql` on `database` as the superuser; panics on failure.
    pub fn execute(&self, database: &str, sql: &str) {
        let sql = sql.to_owned();
        self.on_own_thread(database, move |client| client.batch_execute(&sql))
            .unwrap_or_else(|error| panic!("{error}"));
    }

    /// Connects to `database` and runs `work` on a thread of its own (the sync client must not
    /// run on an async worker).
    fn on_own_thread<T: Send + 'static>(
        &self,
        database: &str,
        work: impl FnOnce(&mut postgres::Client) -> Result<T, postgres::Error> + Send + 'static,
    ) -> Result<T, postgres::Error> {
        let mut config = postgres::Config::new();
        config
            .host_path(&self.dir)
            .user("postgres")
            .dbname(database)
            .connect_timeout(Duration::from_secs(2));
        std::thread::spawn(move || {
            let mut client = config.connect(postgres::NoTls)?;
            work(&mut client)
        })
        .join()
        .expect("the harness's postgres thread")
    }

    fn stop(&mut self) {
        if self.child.try_wait().is_ok_and(|status| status.is_some()) {
            return;
        }
        // The postmaster's pid is the first line of its pid file (the child may be runuser).
        // SIGQUIT: immediate shutdown; the cluster is thrown away.
        let pid = std::fs::read_to_string(self.dir.join("data/postmaster.pid"))
            .ok()
            .and_then(|file| file.lines().next().map(str::to_owned));
        if let Some(pid) = &pid {
            let _ = signal("QUIT", pid);
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if self.child.try_wait().is_ok_and(|status| status.is_some()) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = signal("KILL", pid);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The newest installed version's binaries directory, if any.
fn binaries() -> Option<PathBuf> {
    let versions = std::fs::read_dir("/usr/lib/postgresql").ok()?;
    versions
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("postgres").is_file())
                .then_some((version, bin))
        })
        .max_by_key(|(version, _)| *version)
        .map(|(_, bin)| bin)
}

/// Whether this process runs as root (/proc/self belongs to the effective user).
fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|proc_self| proc_self.uid() == 0)
}

/// `program`, run as the `postgres` user when this process is root.
fn as_server_user(as_root: bool, program: &Path) -> Command {
    if as_root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

/// `kill -SIGNAL pid` (the workspace forbids the unsafe a libc call would need).
fn signal(name: &str, pid: &str) -> std::io::Result<std::process::ExitStatus> {
    Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
}
