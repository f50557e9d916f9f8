//! What the swarm reads from the server: a minimal HTTP GET of `/metrics`, the few series it
//! needs from the Prometheus text, and quantiles from histogram bucket deltas; plus the host's
//! CPU pressure and the metrics address of a ws:// URL.

use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::timeout;

use super::SwarmError;
use super::report::{BucketQuantiles, round3};

/// Quantiles of the samples that fell between two cumulative bucket readings (bound in seconds,
/// cumulative count), as bucket upper bounds in milliseconds. None when no sample fell between.
pub(super) fn bucket_quantiles(
    start: &[(f64, u64)],
    end: &[(f64, u64)],
) -> Option<BucketQuantiles> {
    let mut deltas: Vec<(f64, u64)> = end
        .iter()
        .map(|&(bound, cumulative)| {
            let before = start
                .iter()
                .find(|(start_bound, _)| *start_bound == bound)
                .map_or(0, |&(_, count)| count);
            (bound, cumulative.saturating_sub(before))
        })
        .collect();
    deltas.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = deltas.last()?.1;
    if total == 0 {
        return None;
    }
    let bound_ms = |bound: f64| bound.is_finite().then(|| round3(bound * 1e3));
    let at_quantile = |quantile: f64| {
        let rank = ((quantile * total as f64).ceil() as u64).max(1);
        deltas
            .iter()
            .find(|(_, cumulative)| *cumulative >= rank)
            .and_then(|&(bound, _)| bound_ms(bound))
    };
    let mut below = 0;
    let mut max = None;
    for &(bound, cumulative) in &deltas {
        if cumulative > below {
            max = bound_ms(bound);
        }
        below = cumulative;
    }
    Some(BucketQuantiles {
        p50: at_quantile(0.50),
        p99: at_quantile(0.99),
        max,
    })
}

/// The figures the swarm reads from one /metrics scrape.
#[derive(Debug, Default, Clone, PartialEq)]
pub(super) struct MetricsSample {
    /// `tickwire_tick_duration_seconds_bucket`: (upper bound in seconds, cumulative count).
    pub(super) tick_buckets: Vec<(f64, u64)>,
    pub(super) tick_sum_s: Option<f64>,
    pub(super) tick_count: Option<u64>,
    pub(super) cpu_s: Option<f64>,
    pub(super) rss_bytes: Option<u64>,
    pub(super) fds: Option<u64>,
    pub(super) tasks: Option<u64>,
}

/// Largest /metrics response read.
const METRICS_RESPONSE_MAX: u64 = 1024 * 1024;
/// Deadline of one /metrics scrape.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);

/// GETs /metrics from `authority` (HOST:PORT) with a minimal HTTP/1.1 request. tickwire's server
/// answers with Content-Length and closes the connection, which is all this reads.
pub(super) async fn scrape_metrics(authority: &str) -> Result<MetricsSample, String> {
    let fetch = async {
        let mut stream = TcpStream::connect(authority)
            .await
            .map_err(|error| format!("cannot connect to {authority} for /metrics: {error}"))?;
        let request =
            format!("GET /metrics HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|error| format!("cannot send the /metrics request: {error}"))?;
        let mut response = Vec::new();
        let read = (&mut stream)
            .take(METRICS_RESPONSE_MAX)
            .read_to_end(&mut response)
            .await;
        // A server that refuses the request (e.g. 503 at a connection cap) may reset the
        // connection right after answering: keep what arrived so the status can be reported.
        let read_error = read
            .err()
            .map(|error| format!("cannot read the /metrics response: {error}"));
        Ok::<_, String>((response, read_error))
    };
    let (response, read_error) = timeout(SCRAPE_TIMEOUT, fetch)
        .await
        .map_err(|_| format!("GET http://{authority}/metrics timed out"))??;
    let text = String::from_utf8_lossy(&response);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return Err(read_error.unwrap_or_else(|| "malformed HTTP response to GET /metrics".into()));
    };
    let status_line = head.lines().next().unwrap_or_default();
    if status_line.split_whitespace().nth(1) != Some("200") {
        return Err(format!("GET /metrics answered {status_line:?}"));
    }
    match read_error {
        Some(error) => Err(error),
        None => Ok(parse_metrics(body)),
    }
}

/// Reads the few series the swarm needs from Prometheus text; other lines are ignored.
pub(super) fn parse_metrics(text: &str) -> MetricsSample {
    let mut sample = MetricsSample::default();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.trim().rsplit_once(' ') else {
            continue;
        };
        if let Some(labels) = key.strip_prefix("tickwire_tick_duration_seconds_bucket{") {
            let bound = labels
                .strip_prefix("le=\"")
                .and_then(|rest| rest.strip_suffix("\"}"));
            let bound = match bound {
                Some("+Inf") => Some(f64::INFINITY),
                Some(bound) => bound.parse().ok(),
                None => None,
            };
            if let (Some(bound), Ok(count)) = (bound, value.parse()) {
                sample.tick_buckets.push((bound, count));
            }
            continue;
        }
        match key {
            "process_open_fds" => sample.fds = value.parse().ok(),
            "tickwire_tasks_alive" => sample.tasks = value.parse().ok(),
            "tickwire_tick_duration_seconds_sum" => sample.tick_sum_s = value.parse().ok(),
            "tickwire_tick_duration_seconds_count" => sample.tick_count = value.parse().ok(),
            "process_cpu_seconds_total" => sample.cpu_s = value.parse().ok(),
            "process_resident_memory_bytes" => sample.rss_bytes = value.parse().ok(),
            _ => {}
        }
    }
    sample
}

/// Microseconds some task on this host has waited for a CPU since boot (Linux PSI; None when
/// unavailable).
pub(super) fn cpu_pressure_stall_us() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/pressure/cpu").ok()?;
    let some = text.lines().find(|line| line.starts_with("some "))?;
    some.split_whitespace()
        .find_map(|field| field.strip_prefix("total="))?
        .parse()
        .ok()
}

/// HOST:PORT of a ws:// URL (port 80 when it has none).
pub(super) fn metrics_authority(url: &str) -> Result<String, SwarmError> {
    let invalid = || SwarmError::Url {
        url: url.to_string(),
    };
    let rest = url.strip_prefix("ws://").ok_or_else(invalid)?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() || authority.contains('@') {
        return Err(invalid());
    }
    // A port follows the last ':' unless that ':' is inside an IPv6 literal like [::1].
    let has_port = authority
        .rfind(':')
        .is_some_and(|colon| !authority[colon..].contains(']'));
    if has_port {
        Ok(authority.to_string())
    } else {
        Ok(format!("{authority}:80"))
    }
}

/// [`scrape_metrics`] of every server, summed (CPU seconds, memory, descriptors, tasks, tick
/// histograms bucket by bucket): the figures of a cluster of nodes as of one server.
pub(super) async fn scrape_all(authorities: &[String]) -> Result<MetricsSample, String> {
    let mut total = MetricsSample::default();
    for authority in authorities {
        let sample = scrape_metrics(authority).await?;
        let add_f = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
        };
        let add_u = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
        };
        total.cpu_s = add_f(total.cpu_s, sample.cpu_s);
        total.tick_sum_s = add_f(total.tick_sum_s, sample.tick_sum_s);
        total.rss_bytes = add_u(total.rss_bytes, sample.rss_bytes);
        total.fds = add_u(total.fds, sample.fds);
        total.tasks = add_u(total.tasks, sample.tasks);
        total.tick_count = add_u(total.tick_count, sample.tick_count);
        if total.tick_buckets.is_empty() {
            total.tick_buckets = sample.tick_buckets;
        } else {
            for (bucket, (_, count)) in total.tick_buckets.iter_mut().zip(sample.tick_buckets) {
                bucket.1 += count;
            }
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authority_of_ws_urls() {
        assert_eq!(
            metrics_authority("ws://127.0.0.1:7700/ws").unwrap(),
            "127.0.0.1:7700"
        );
        assert_eq!(
            metrics_authority("ws://example.com/ws").unwrap(),
            "example.com:80"
        );
        assert_eq!(
            metrics_authority("ws://[::1]:9000/ws").unwrap(),
            "[::1]:9000"
        );
        assert_eq!(metrics_authority("ws://[::1]/ws").unwrap(), "[::1]:80");
        assert!(metrics_authority("http://127.0.0.1:7700/ws").is_err());
        assert!(metrics_authority("ws:///ws").is_err());
    }

    #[test]
    fn metrics_text_is_parsed() {
        let text = "# HELP x\n# TYPE tickwire_tick_duration_seconds histogram\n\
            tickwire_tick_duration_seconds_bucket{le=\"0.001\"} 5\n\
            tickwire_tick_duration_seconds_bucket{le=\"0.002\"} 9\n\
            tickwire_tick_duration_seconds_bucket{le=\"+Inf\"} 10\n\
            tickwire_tick_duration_seconds_sum 0.0125\n\
            tickwire_tick_duration_seconds_count 10\n\
            process_cpu_seconds_total 1.5\n\
            process_resident_memory_bytes 1048576\n";
        let sample = parse_metrics(text);
        assert_eq!(
            sample.tick_buckets,
            vec![(0.001, 5), (0.002, 9), (f64::INFINITY, 10)]
        );
        assert_eq!(sample.tick_count, Some(10));
        assert_eq!(sample.tick_sum_s, Some(0.0125));
        assert_eq!(sample.cpu_s, Some(1.5));
        assert_eq!(sample.rss_bytes, Some(1_048_576));
    }

    #[test]
    fn bucket_quantiles_use_deltas_and_upper_bounds() {
        let start = [
            (0.001, 100),
            (0.002, 100),
            (0.004, 100),
            (f64::INFINITY, 100),
        ];
        // 98 new ticks under 1 ms, 1 under 2 ms, 1 under 4 ms.
        let end = [
            (0.001, 198),
            (0.002, 199),
            (0.004, 200),
            (f64::INFINITY, 200),
        ];
        let quantiles = bucket_quantiles(&start, &end).unwrap();
        assert_eq!(quantiles.p50, Some(1.0));
        assert_eq!(quantiles.p99, Some(2.0));
        assert_eq!(quantiles.max, Some(4.0));
        assert_eq!(bucket_quantiles(&end, &end), None);
        let overflow = [
            (0.001, 198),
            (0.002, 199),
            (0.004, 199),
            (f64::INFINITY, 200),
        ];
        assert_eq!(bucket_quantiles(&start, &overflow).unwrap().max, None);
    }
}
