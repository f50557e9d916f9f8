//! Playing through a cluster's matchmakers: ask any node (`POST /api/matchmake`) for a seat,
//! connect to the node it names with that seat, play; when the session ends early (the node
//! drained with 1012, died, or refused the connection), wait a little (exponential backoff with
//! jitter) and ask again, until the bot's duration is over.

use std::time::Duration;

use tickwire_net::{Client, ClientError, CloseInfo};
use tickwire_protocol::Hello;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};

use crate::{BotGame, BotOptions, BotReport, play};

/// What a matchmaker answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ticket {
    /// The owning node's WebSocket URL.
    pub url: String,
    /// The room.
    pub room: String,
    /// The seat to present in the Hello.
    pub seat: String,
}

/// Asks the matchmaker at `http_url` (`http://HOST:PORT`) for a seat.
pub async fn matchmake(
    http_url: &str,
    name: &str,
    room: Option<&str>,
    spectate: bool,
    token: Option<&str>,
    deadline: Duration,
) -> Result<Ticket, String> {
    let authority = http_url
        .strip_prefix("http://")
        .ok_or_else(|| format!("matchmaker {http_url:?}: expected http://HOST:PORT"))?
        .trim_end_matches('/');
    let body =
        serde_json::json!({ "name": name, "room": room, "spectate": spectate, "token": token })
            .to_string();
    let request = format!(
        "POST /api/matchmake HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let exchange = async {
        let mut stream = TcpStream::connect(authority)
            .await
            .map_err(|error| format!("matchmaker {authority}: {error}"))?;
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|error| format!("matchmaker {authority}: {error}"))?;
        let mut response = Vec::new();
        stream
            .take(16 * 1024)
            .read_to_end(&mut response)
            .await
            .map_err(|error| format!("matchmaker {authority}: {error}"))?;
        Ok::<_, String>(response)
    };
    let response = timeout(deadline, exchange)
        .await
        .map_err(|_| format!("matchmaker {authority}: no answer in time"))??;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("matchmaker {authority}: malformed response"))?;
    let status = head.split_whitespace().nth(1).unwrap_or("");
    let value: serde_json::Value = serde_json::from_str(body)
        .map_err(|error| format!("matchmaker {authority}: {status}, body not JSON: {error}"))?;
    if status != "200" {
        return Err(format!(
            "matchmaker {authority}: {status} {}",
            value["error"].as_str().unwrap_or("")
        ));
    }
    let field = |name: &str| {
        value[name]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("matchmaker {authority}: no {name} in {value}"))
    };
    Ok(Ticket {
        url: field("url")?,
        room: field("room")?,
        seat: field("seat")?,
    })
}

/// Plays through `options.matchmakers` (tried in turn) until `options.duration` is over (or,
/// without a duration, until a session ends by itself); the report adds up every session's
/// counters and counts the rejoins and failures.
pub async fn play_matchmade<G: BotGame>(
    options: &BotOptions,
) -> Result<BotReport<G::Figures>, ClientError> {
    let started = Instant::now();
    let deadline = options.duration.map(|duration| started + duration);
    let mut total: Option<BotReport<G::Figures>> = None;
    let mut failures = 0u64;
    let mut attempt = 0usize;
    let mut backoff = Backoff::new(options.seed);
    loop {
        let left = deadline.map(|deadline| deadline.saturating_duration_since(Instant::now()));
        if left.is_some_and(|left| left < Duration::from_millis(100)) {
            break;
        }
        let matchmaker = &options.matchmakers[attempt % options.matchmakers.len()];
        attempt += 1;
        let ticket = match matchmake(
            matchmaker,
            &options.name,
            options.room.as_deref(),
            options.spectate,
            options.token.as_deref(),
            options.connect_timeout,
        )
        .await
        {
            Ok(ticket) => ticket,
            Err(why) => {
                failures += 1;
                tracing::debug!(%why, "matchmaking failed; retrying");
                backoff.wait().await;
                continue;
            }
        };
        let hello = Hello {
            seat: Some(ticket.seat),
            ..options.hello::<G>()
        };
        let client = match Client::<G>::connect_with_tls(
            &ticket.url,
            hello,
            options.connect_timeout,
            options.tls.clone(),
        )
        .await
        {
            Ok(client) => client,
            Err(error) => {
                failures += 1;
                tracing::debug!(%error, "seated connection failed; matchmaking again");
                backoff.wait().await;
                continue;
            }
        };
        backoff.reset();
        let session = BotOptions {
            duration: left,
            ..options.clone()
        };
        let report = play(client, &session).await;
        let ended_early = report.disconnect_reason.is_some();
        total = Some(match total {
            None => report,
            Some(total) => merge(total, report),
        });
        if !ended_early || deadline.is_none() {
            break;
        }
        backoff.wait().await;
    }
    let mut report = total.unwrap_or_default();
    report.matchmake_failures = failures;
    if report.room.is_empty() && report.disconnect_reason.is_none() {
        report.disconnect_reason = Some(CloseInfo {
            code: tickwire_net::client::ABNORMAL_CLOSE,
            reason: format!("never seated: {failures} matchmaking attempts failed"),
        });
    }
    Ok(report)
}

/// The counters of two sessions added up; the rest is the later one's.
fn merge<F>(earlier: BotReport<F>, later: BotReport<F>) -> BotReport<F> {
    let snapshots = earlier.snapshots + later.snapshots;
    let duration_s = earlier.duration_s + later.duration_s;
    BotReport {
        snapshots,
        duration_s,
        snapshots_per_s: if duration_s > 0.0 {
            snapshots as f64 / duration_s
        } else {
            0.0
        },
        full_snapshots: earlier.full_snapshots + later.full_snapshots,
        snapshot_errors: earlier.snapshot_errors + later.snapshot_errors,
        chat_received: earlier.chat_received + later.chat_received,
        chat_sent: earlier.chat_sent + later.chat_sent,
        bytes_received: earlier.bytes_received + later.bytes_received,
        bytes_sent: earlier.bytes_sent + later.bytes_sent,
        events_received: earlier.events_received + later.events_received,
        corrections: earlier.corrections + later.corrections,
        entities_seen_max: earlier.entities_seen_max.max(later.entities_seen_max),
        rejoins: earlier.rejoins + later.rejoins + 1,
        ..later
    }
}

/// Exponential backoff from 100 ms to 2 s, each wait jittered to 50-100% (seeded per bot, so a
/// swarm of bots does not come back in step).
pub(crate) struct Backoff {
    next: Duration,
    state: u64,
}

impl Backoff {
    pub(crate) fn new(seed: u64) -> Backoff {
        Backoff {
            next: Duration::from_millis(100),
            state: seed | 1,
        }
    }

    pub(crate) fn reset(&mut self) {
        self.next = Duration::from_millis(100);
    }

    /// The next wait (jittered), doubling the one after.
    pub(crate) fn next_wait(&mut self) -> Duration {
        // xorshift64: enough for jitter.
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        let fraction = 0.5 + (self.state % 1000) as f64 / 2000.0;
        let wait = self.next.mul_f64(fraction);
        self.next = (self.next * 2).min(Duration::from_secs(2));
        wait
    }

    async fn wait(&mut self) {
        tokio::time::sleep(self.next_wait()).await;
    }
}
