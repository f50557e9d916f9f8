//! Writing match logs: one thread per server compresses and writes every room's records, so
//! neither compression nor a slow disk is ever on a room's tick.
//!
//! A room's journal ([`crate::journal::Journal`]) fills in memory; its driver hands the
//! records over about once a second ([`FLUSH_TICKS`]) through a bounded queue. When the queue
//! is full (the disk cannot keep up) that room stops recording, its log ends there, and it is
//! counted: a room never waits for the disk. Each hand-over is compressed and pushed to the
//! file with a sync flush, so a server killed mid-match leaves a log that reads up to its last
//! hand-over. A log that reaches `record_max_file_mb` gets an end record saying so and takes
//! nothing more. Old logs are deleted by age and by the directory's total size.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, SystemTime};

use tracing::warn;

use crate::journal::{FileWriter, Journal};

/// A room hands its records over every this many ticks.
pub(crate) const FLUSH_TICKS: u32 = 30;
/// Hand-overs waiting for the writer at most (over every room).
const QUEUE: usize = 4096;
/// Extension of match log files.
pub(crate) const EXTENSION: &str = "twmatch";
/// The end of a log whose room stopped recording because the writer fell behind.
pub(crate) const LOST: &str = "recording stopped: the writer fell behind";
/// How often old logs are looked for at most.
const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// A log written to this recently is never deleted: it may be another server's match in
/// progress (servers may share a directory), or one just ended whose results point to it.
const SWEEP_SPARES: Duration = Duration::from_secs(15 * 60);

/// One job for the writer thread.
enum Job {
    Open {
        id: u64,
        path: PathBuf,
        records: Vec<u8>,
    },
    Write {
        id: u64,
        records: Vec<u8>,
    },
    Close {
        id: u64,
        records: Vec<u8>,
    },
    /// Answers once every job before it is done.
    Barrier(std::sync::mpsc::Sender<()>),
}

/// Counters of the recorder, in /metrics.
#[derive(Debug, Default)]
pub(crate) struct RecorderMetrics {
    pub(crate) matches: AtomicU64,
    pub(crate) bytes: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) capped: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) deleted: AtomicU64,
}

/// The server's side of the writer thread.
#[derive(Debug)]
pub(crate) struct Recorder {
    jobs: SyncSender<Job>,
    pub(crate) dir: PathBuf,
    next_id: AtomicU64,
    pub(crate) metrics: std::sync::Arc<RecorderMetrics>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Job")
    }
}

/// What the writer needs to know of the config.
#[derive(Clone, Debug)]
pub(crate) struct Limits {
    pub(crate) max_file_bytes: u64,
    pub(crate) keep: Option<Duration>,
    pub(crate) max_total_bytes: Option<u64>,
}

/// A room's recording: its log's id with the writer, and the file name.
#[derive(Debug)]
pub(crate) struct Recording {
    id: u64,
    pub(crate) file_name: String,
    opened: bool,
}

impl RecorderMetrics {
    /// Appends the recorder's counters to a /metrics body.
    pub(crate) fn render(&self, out: &mut String) {
        use std::fmt::Write as _;
        for (name, help, value) in [
            ("matches", "Match logs opened.", &self.matches),
            ("bytes", "Compressed match log bytes written.", &self.bytes),
            (
                "dropped",
                "Hand-overs the log writer could not take (that match's log ends there).",
                &self.dropped,
            ),
            (
                "capped",
                "Match logs that reached record_max_file_mb.",
                &self.capped,
            ),
            (
                "errors",
                "Match log files that could not be created or written.",
                &self.errors,
            ),
            (
                "deleted",
                "Old match logs deleted (record_keep_days, record_max_total_mb).",
                &self.deleted,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP tickwire_record_{name}_total {help}\n# TYPE tickwire_record_{name}_total counter\ntickwire_record_{name}_total {}",
                value.load(Relaxed)
            );
        }
    }
}

impl Recorder {
    /// Creates the directory and starts the writer thread.
    pub(crate) fn start(dir: PathBuf, limits: Limits) -> io::Result<Recorder> {
        std::fs::create_dir_all(&dir)?;
        let (jobs, queue) = sync_channel(QUEUE);
        let metrics = std::sync::Arc::new(RecorderMetrics::default());
        let writer = Writer {
            dir: dir.clone(),
            limits,
            files: HashMap::new(),
            metrics: std::sync::Arc::clone(&metrics),
            swept: None,
        };
        std::thread::Builder::new()
            .name("tickwire-recorder".into())
            .spawn(move || writer.run(queue))?;
        Ok(Recorder {
            jobs,
            dir,
            next_id: AtomicU64::new(1),
            metrics,
        })
    }

    /// A new log for room `room`, its file named from the time, the room, this process and
    /// the log's id (unique however many servers share the directory).
    pub(crate) fn begin(&self, room: &str, started_unix_ms: u64) -> Recording {
        let id = self.next_id.fetch_add(1, Relaxed);
        Recording {
            id,
            file_name: format!(
                "{started_unix_ms}-{room}-{}-{id}.{EXTENSION}",
                std::process::id()
            ),
            opened: false,
        }
    }

    /// Hands a room's records over; false when the writer cannot take them (the room should
    /// stop recording).
    pub(crate) fn write(&self, recording: &mut Recording, journal: &mut Journal) -> bool {
        let records = journal.take();
        let job = if recording.opened {
            Job::Write {
                id: recording.id,
                records,
            }
        } else {
            Job::Open {
                id: recording.id,
                path: self.dir.join(&recording.file_name),
                records,
            }
        };
        match self.jobs.try_send(job) {
            Ok(()) => {
                recording.opened = true;
                true
            }
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.metrics.dropped.fetch_add(1, Relaxed);
                false
            }
        }
    }

    /// Ends a room's log with `reason` and closes the file. Blocks while the writer's queue is
    /// full (call it off the runtime's threads): a match's end is never dropped, so no file
    /// stays open.
    pub(crate) fn end(&self, recording: Recording, mut journal: Journal, reason: &str) {
        journal.end(reason);
        let records = journal.take();
        if !recording.opened {
            // A match shorter than one hand-over: open it with everything.
            let open = Job::Open {
                id: recording.id,
                path: self.dir.join(&recording.file_name),
                records,
            };
            if self.jobs.send(open).is_err() {
                return;
            }
            let _ = self.jobs.send(Job::Close {
                id: recording.id,
                records: Vec::new(),
            });
            return;
        }
        let _ = self.jobs.send(Job::Close {
            id: recording.id,
            records,
        });
    }

    /// Ends a log whose room stopped recording early (its records stop where the writer could
    /// not take more): an end record saying so, then the file closes.
    /// Blocks while the writer's queue is full, as [`Recorder::end`].
    pub(crate) fn end_lost(&self, recording: Recording) {
        if !recording.opened {
            return;
        }
        let _ = self.jobs.send(Job::Close {
            id: recording.id,
            records: crate::journal::end_record(LOST),
        });
    }

    /// Waits (up to `timeout`) until every record handed over so far is written and every
    /// ended log closed.
    pub(crate) fn flush(&self, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        let (done, wait) = std::sync::mpsc::channel();
        let mut barrier = Job::Barrier(done);
        loop {
            match self.jobs.try_send(barrier) {
                Ok(()) => break,
                Err(TrySendError::Full(job)) if std::time::Instant::now() < deadline => {
                    barrier = job;
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(_) => return false,
            }
        }
        wait.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
            .is_ok()
    }
}

/// One open log.
struct Open {
    file: FileWriter<BufWriter<File>>,
    path: PathBuf,
    /// It reached the size cap: nothing more is written.
    capped: bool,
}

/// The writer thread's state.
struct Writer {
    dir: PathBuf,
    limits: Limits,
    files: HashMap<u64, Open>,
    metrics: std::sync::Arc<RecorderMetrics>,
    swept: Option<std::time::Instant>,
}

impl Writer {
    fn run(mut self, queue: Receiver<Job>) {
        self.sweep();
        while let Ok(job) = queue.recv() {
            match job {
                Job::Open { id, path, records } => {
                    match File::create_new(&path)
                        .and_then(|file| FileWriter::new(BufWriter::with_capacity(64 * 1024, file)))
                    {
                        Ok(file) => {
                            self.metrics.matches.fetch_add(1, Relaxed);
                            self.files.insert(
                                id,
                                Open {
                                    file,
                                    path,
                                    capped: false,
                                },
                            );
                            self.write(id, &records);
                        }
                        Err(error) => {
                            self.metrics.errors.fetch_add(1, Relaxed);
                            warn!(path = %path.display(), %error, "cannot create a match log");
                        }
                    }
                }
                Job::Write { id, records } => self.write(id, &records),
                Job::Close { id, records } => {
                    self.write(id, &records);
                    if let Some(open) = self.files.remove(&id) {
                        let closed = open
                            .file
                            .finish()
                            .and_then(|out| out.into_inner().map_err(|error| error.into_error()))
                            .and_then(|file| file.sync_data());
                        if let Err(error) = closed {
                            self.metrics.errors.fetch_add(1, Relaxed);
                            warn!(path = %open.path.display(), %error, "cannot close a match log");
                        }
                    }
                    if self
                        .swept
                        .is_none_or(|swept| swept.elapsed() >= SWEEP_EVERY)
                    {
                        self.sweep();
                    }
                }
                Job::Barrier(done) => {
                    let _ = done.send(());
                }
            }
        }
    }

    fn write(&mut self, id: u64, records: &[u8]) {
        let Some(open) = self.files.get_mut(&id) else {
            return;
        };
        if open.capped || records.is_empty() {
            return;
        }
        let before = open.file.written();
        if let Err(error) = open.file.write(records) {
            self.metrics.errors.fetch_add(1, Relaxed);
            warn!(path = %open.path.display(), %error, "cannot write a match log; it ends here");
            open.capped = true;
            return;
        }
        let written = open.file.written();
        self.metrics.bytes.fetch_add(written - before, Relaxed);
        if written >= self.limits.max_file_bytes {
            // The log ends here, saying why (an end record, as a finished match has).
            let _ = open.file.write(&crate::journal::end_record("size cap"));
            open.capped = true;
            self.metrics.capped.fetch_add(1, Relaxed);
            warn!(path = %open.path.display(), "a match log reached record_max_file_mb");
        }
    }

    /// Deletes logs past their age, then the oldest while the directory holds too much.
    fn sweep(&mut self) {
        self.swept = Some(std::time::Instant::now());
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let open: Vec<&Path> = self
            .files
            .values()
            .map(|open| open.path.as_path())
            .collect();
        let mut logs: Vec<(SystemTime, u64, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter(|entry| {
                entry.path().extension().and_then(|ext| ext.to_str()) == Some(EXTENSION)
            })
            .filter(|entry| !open.contains(&entry.path().as_path()))
            .filter_map(|entry| {
                let meta = entry.metadata().ok()?;
                Some((meta.modified().ok()?, meta.len(), entry.path()))
            })
            .collect();
        logs.sort();
        let now = SystemTime::now();
        let mut total: u64 = logs.iter().map(|(_, len, _)| len).sum();
        for (modified, len, path) in logs {
            if now
                .duration_since(modified)
                .map_or(true, |age| age < SWEEP_SPARES)
            {
                continue;
            }
            let too_old = self
                .limits
                .keep
                .is_some_and(|keep| now.duration_since(modified).is_ok_and(|age| age > keep));
            let too_much = self.limits.max_total_bytes.is_some_and(|max| total > max);
            if !(too_old || too_much) {
                continue;
            }
            if std::fs::remove_file(&path).is_ok() {
                total -= len;
                self.metrics.deleted.fetch_add(1, Relaxed);
            }
        }
    }
}
