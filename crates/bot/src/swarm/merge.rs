//! Merging the reports of swarms that ran at the same time (one per load machine, all against
//! one server or cluster) into one report: `tickwire swarm-merge`.
//!
//! How each figure combines:
//! - counts (bots, connections, snapshots, inputs, failures and disconnects by reason, bots per
//!   node, slow bots, sample bots and corrections) add up; the game's figures merge by the game's
//!   own [`Figures::merge`];
//! - latency and interval quantiles are read again from the sum of the parts' histograms (each
//!   report carries its histogram in `buckets`), so they are exactly those of one histogram of
//!   every sample, never an average of quantiles;
//! - per-bot rates are the total bytes over the total bot-seconds of the windows;
//! - the swarm processes' CPU and memory add up (they ran on different machines); host CPU
//!   pressure is the worst part's;
//! - the server's figures are NOT added: every part scraped the same servers over its own
//!   window, so the merged report keeps the first part's and lists every part's server CPU in the
//!   notes; the floor (a per-machine measurement) is dropped;
//! - prediction error quantiles (kept as three numbers, not a histogram) become the largest of
//!   the parts' (an upper bound), as the notes say.

use std::collections::BTreeMap;

use super::report::{Quantiles, SlowReport, SwarmReport, merge as merge_histogram, new_histogram};
use super::report::{quantiles, round3};
use crate::Figures;

/// Merges reports of the same game into one. Fails when there is nothing to merge, when the
/// games differ, or when a part lacks the histograms (a report from before they were written).
pub fn merge_reports<F: Figures>(parts: Vec<SwarmReport<F>>) -> Result<SwarmReport<F>, String> {
    let Some(first) = parts.first() else {
        return Err("no reports to merge".into());
    };
    for (index, part) in parts.iter().enumerate() {
        if part.game != first.game {
            return Err(format!(
                "report {} is of game {:?}, report 1 of {:?}: only one game's reports merge",
                index + 1,
                part.game,
                first.game
            ));
        }
        let mut all = vec![
            ("snapshot_interval_ms", Some(&part.snapshot_interval_ms)),
            ("input_ack_latency_ms", Some(&part.input_ack_latency_ms)),
            ("matchmake_ms", part.matchmake_ms.as_ref()),
            ("rejoin_ms", part.rejoin_ms.as_ref()),
        ];
        if let Some(slow) = &part.slow {
            all.push((
                "slow.snapshot_interval_ms",
                Some(&slow.snapshot_interval_ms),
            ));
            all.push((
                "slow.input_ack_latency_ms",
                Some(&slow.input_ack_latency_ms),
            ));
        }
        for (name, quantiles) in all.into_iter().filter_map(|(name, q)| Some((name, q?))) {
            let bucketed: u64 = quantiles.buckets.iter().map(|[_, count]| count).sum();
            if bucketed != quantiles.count {
                return Err(format!(
                    "report {}'s {name} has {} samples but its histogram (`buckets`) {bucketed}: \
                     it was written by an older swarm, or edited, and cannot merge exactly",
                    index + 1,
                    quantiles.count
                ));
            }
        }
    }
    let mut merged = SwarmReport::<F> {
        game: first.game.clone(),
        tick_rate: first.tick_rate,
        snapshot_every_ticks: first.snapshot_every_ticks,
        warmup_s: first.warmup_s,
        ..SwarmReport::default()
    };
    let mut urls: Vec<String> = Vec::new();
    let mut bot_seconds = 0.0;
    let mut bytes_in = 0.0;
    let mut bytes_out = 0.0;
    let mut interval = Histograms::default();
    let mut latency = Histograms::default();
    let mut matchmake = Histograms::default();
    let mut rejoin = Histograms::default();
    let mut notes = Vec::new();
    let mut server_cpu = Vec::new();
    for (index, part) in parts.iter().enumerate() {
        if !urls.contains(&part.url) {
            urls.push(part.url.clone());
        }
        if part.tick_rate != merged.tick_rate
            || part.snapshot_every_ticks != merged.snapshot_every_ticks
        {
            notes.push(format!(
                "report {} saw {} Hz with a snapshot every {} ticks, report 1 {} Hz every {}: \
                 the snapshot figures mix two configurations",
                index + 1,
                part.tick_rate,
                part.snapshot_every_ticks,
                merged.tick_rate,
                merged.snapshot_every_ticks
            ));
        }
        merged.bots += part.bots;
        merged.connected += part.connected;
        merged.connect_failures += part.connect_failures;
        add_counts(
            &mut merged.connect_failure_reasons,
            &part.connect_failure_reasons,
        );
        add_counts(&mut merged.disconnects, &part.disconnects);
        add_counts(&mut merged.bots_per_node, &part.bots_per_node);
        merged.ramp_per_s += part.ramp_per_s;
        merged.ramp_s = merged.ramp_s.max(part.ramp_s);
        merged.warmup_s = merged.warmup_s.max(part.warmup_s);
        merged.duration_s = merged.duration_s.max(part.duration_s);
        merged.window_started_unix_ms =
            match (merged.window_started_unix_ms, part.window_started_unix_ms) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        merged.bots_in_window += part.bots_in_window;
        merged.snapshots_received += part.snapshots_received;
        merged.snapshots_expected += part.snapshots_expected;
        merged.snapshot_errors += part.snapshot_errors;
        merged.inputs_sent += part.inputs_sent;
        let part_bot_seconds = part.bots_in_window as f64 * part.duration_s;
        bot_seconds += part_bot_seconds;
        bytes_in += part.bytes_in_per_bot_per_s * part_bot_seconds;
        bytes_out += part.bytes_out_per_bot_per_s * part_bot_seconds;
        interval.add(&part.snapshot_interval_ms);
        latency.add(&part.input_ack_latency_ms);
        if let Some(part_matchmake) = &part.matchmake_ms {
            matchmake.add(part_matchmake);
        }
        if let Some(part_rejoin) = &part.rejoin_ms {
            rejoin.add(part_rejoin);
        }
        merged.swarm_cpu_cores = add_option(merged.swarm_cpu_cores, part.swarm_cpu_cores);
        merged.swarm_rss_bytes = add_option(merged.swarm_rss_bytes, part.swarm_rss_bytes);
        merged.host_cpu_pressure = match (merged.host_cpu_pressure, part.host_cpu_pressure) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        merged.unfinished_bots += part.unfinished_bots;
        merged.soak_sessions = add_option(merged.soak_sessions, part.soak_sessions);
        merged.game_figures.merge(&part.game_figures);
        merged.shards += part.shards;
        merge_sample(&mut merged, part);
        merge_slow(&mut merged.slow, part.slow.as_ref());
        server_cpu.push(
            part.server_cpu_cores
                .map_or_else(|| "-".to_string(), |cores| format!("{cores:.3}")),
        );
    }
    merged.url = urls.join(" + ");
    // Rooms: the parts' own room sets (swarm-0.. in each), so the largest, when all name one.
    merged.rooms = parts
        .iter()
        .map(|part| part.rooms)
        .collect::<Option<Vec<usize>>>()
        .and_then(|rooms| rooms.into_iter().max());
    if bot_seconds > 0.0 {
        merged.bytes_in_per_bot_per_s = round3(bytes_in / bot_seconds);
        merged.bytes_out_per_bot_per_s = round3(bytes_out / bot_seconds);
    }
    merged.snapshot_interval_ms = interval.quantiles();
    merged.input_ack_latency_ms = latency.quantiles();
    merged.matchmake_ms = matchmake.seen.then(|| matchmake.quantiles());
    merged.rejoin_ms = rejoin.seen.then(|| rejoin.quantiles());
    if let Some(slow) = &mut merged.slow {
        let slow_seconds = slow.bots_in_window as f64 * merged.duration_s;
        if slow_seconds > 0.0 {
            slow.snapshots_per_bot_per_s = round3(slow.snapshots_received as f64 / slow_seconds);
        }
    }
    // The server's figures: the first part's (every part scraped the same servers).
    let server = &parts[0];
    merged.server_tick_ms = server.server_tick_ms;
    merged.server_ticks = server.server_ticks;
    merged.server_tick_ms_mean = server.server_tick_ms_mean;
    merged.server_cpu_s = server.server_cpu_s;
    merged.server_cpu_cores = server.server_cpu_cores;
    merged.server_rss_bytes = server.server_rss_bytes;
    merged.server_rss_bytes_start = server.server_rss_bytes_start;
    merged.server_fds_start = server.server_fds_start;
    merged.server_fds = server.server_fds;
    merged.server_tasks_start = server.server_tasks_start;
    merged.server_tasks = server.server_tasks;
    merged.server_metrics_error = server.server_metrics_error.clone();
    merged.notes.push(format!(
        "merged from {} swarm reports: counts and the swarms' CPU and memory add up; latency \
         and interval quantiles are read from the sum of their histograms; per-bot rates are \
         total bytes over total bot-seconds",
        parts.len()
    ));
    merged.notes.push(format!(
        "server figures are report 1's (every swarm scraped the same servers over its own \
         window; they are not added); server CPU cores per report: {}",
        server_cpu.join(", ")
    ));
    if let Some(spread) = window_spread_s(&parts) {
        merged.notes.push(format!(
            "the measured windows opened within {spread:.1} s of each other (by each machine's \
             clock); figures add up only over windows that overlap"
        ));
    }
    if parts.iter().any(|part| part.floor.is_some()) {
        merged
            .notes
            .push("the parts' floor measurements are per machine and are not merged".into());
    }
    if parts.iter().filter(|part| part.sample.is_some()).count() > 1 {
        merged.notes.push(
            "sample.prediction_error_m p50 and p99 are the largest of the parts' (an upper \
             bound, not a merged quantile)"
                .into(),
        );
    }
    merged.notes.extend(notes);
    // How to read the figures: the first part's own notes (the same text in every part).
    merged.notes.extend(parts[0].notes.iter().cloned());
    Ok(merged)
}

/// A histogram summed from the parts' `buckets`.
struct Histograms {
    total: hdrhistogram::Histogram<u64>,
    /// Some part had these quantiles at all (an empty histogram still counts).
    seen: bool,
}

impl Default for Histograms {
    fn default() -> Histograms {
        Histograms {
            total: new_histogram(),
            seen: false,
        }
    }
}

impl Histograms {
    fn add(&mut self, part: &Quantiles) {
        self.seen = true;
        merge_histogram(&mut self.total, &part.histogram());
    }

    fn quantiles(&self) -> Quantiles {
        quantiles(&self.total)
    }
}

fn add_counts(total: &mut BTreeMap<String, u64>, part: &BTreeMap<String, u64>) {
    for (key, count) in part {
        *total.entry(key.clone()).or_default() += count;
    }
}

fn add_option<T: std::ops::Add<Output = T>>(total: Option<T>, part: Option<T>) -> Option<T> {
    match (total, part) {
        (Some(total), Some(part)) => Some(total + part),
        (total, part) => total.or(part),
    }
}

fn merge_sample<F>(merged: &mut SwarmReport<F>, part: &SwarmReport<F>) {
    let Some(part) = &part.sample else {
        return;
    };
    let sample = merged.sample.get_or_insert_with(Default::default);
    sample.bots += part.bots;
    sample.corrections += part.corrections;
    let error = &mut sample.prediction_error_m;
    error.p50 = error.p50.max(part.prediction_error_m.p50);
    error.p99 = error.p99.max(part.prediction_error_m.p99);
    error.max = error.max.max(part.prediction_error_m.max);
}

fn merge_slow(merged: &mut Option<SlowReport>, part: Option<&SlowReport>) {
    let Some(part) = part else {
        return;
    };
    let Some(slow) = merged else {
        *merged = Some(part.clone());
        return;
    };
    // Bytes per slow bot and second: weighted by each part's slow bots.
    let weight = slow.bots_in_window as f64;
    let part_weight = part.bots_in_window as f64;
    if weight + part_weight > 0.0 {
        slow.bytes_in_per_bot_per_s = round3(
            (slow.bytes_in_per_bot_per_s * weight + part.bytes_in_per_bot_per_s * part_weight)
                / (weight + part_weight),
        );
    }
    slow.bots += part.bots;
    slow.bots_in_window += part.bots_in_window;
    slow.bytes_per_s = slow.bytes_per_s.max(part.bytes_per_s);
    slow.snapshots_received += part.snapshots_received;
    let mut interval = Histograms::default();
    interval.add(&slow.snapshot_interval_ms);
    interval.add(&part.snapshot_interval_ms);
    slow.snapshot_interval_ms = interval.quantiles();
    let mut latency = Histograms::default();
    latency.add(&slow.input_ack_latency_ms);
    latency.add(&part.input_ack_latency_ms);
    slow.input_ack_latency_ms = latency.quantiles();
    add_counts(&mut slow.disconnects, &part.disconnects);
}

/// Seconds between the first and the last window's opening, when every part says.
fn window_spread_s<F>(parts: &[SwarmReport<F>]) -> Option<f64> {
    let starts: Option<Vec<u64>> = parts
        .iter()
        .map(|part| part.window_started_unix_ms)
        .collect();
    let starts = starts?;
    let (min, max) = (starts.iter().min()?, starts.iter().max()?);
    Some((max - min) as f64 / 1e3)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_game::LineFigures;
    use hdrhistogram::Histogram;

    fn histogram(samples: &[u64]) -> Histogram<u64> {
        let mut histogram = new_histogram();
        for &sample in samples {
            super::super::report::record(&mut histogram, sample, 1);
        }
        histogram
    }

    fn part(
        url: &str,
        bots: usize,
        latency_us: &[u64],
        bytes_in_per_bot_per_s: f64,
    ) -> SwarmReport<LineFigures> {
        SwarmReport {
            game: "line".into(),
            url: url.into(),
            bots,
            connected: bots as u64,
            bots_in_window: bots as u64,
            duration_s: 10.0,
            tick_rate: 30,
            snapshot_every_ticks: 1,
            snapshots_received: 300 * bots as u64,
            snapshots_expected: 300 * bots as u64,
            inputs_sent: latency_us.len() as u64,
            input_ack_latency_ms: quantiles(&histogram(latency_us)),
            matchmake_ms: Some(quantiles(&histogram(&[400, 500]))),
            bytes_in_per_bot_per_s,
            swarm_cpu_cores: Some(0.5),
            server_cpu_cores: Some(0.2),
            bots_per_node: BTreeMap::from([("ws://a/ws".into(), bots as u64)]),
            ..SwarmReport::default()
        }
    }

    #[test]
    fn merged_quantiles_are_those_of_one_histogram_of_every_sample() {
        // Two machines with very different latencies: averaging their medians would say 50 ms;
        // the merged histogram's median is the fast machine's, its p99 the slow one's.
        let fast: Vec<u64> = (0..900).map(|i| 10_000 + i * 10).collect();
        let slow: Vec<u64> = (0..100).map(|i| 90_000 + i * 100).collect();
        let merged = merge_reports(vec![
            part("ws://a/ws", 90, &fast, 1000.0),
            part("ws://b/ws", 10, &slow, 2000.0),
        ])
        .unwrap();
        let all: Vec<u64> = fast.iter().chain(&slow).copied().collect();
        assert_eq!(merged.input_ack_latency_ms, quantiles(&histogram(&all)));
        assert_eq!(merged.input_ack_latency_ms.count, 1000);
        assert!(merged.input_ack_latency_ms.p50 < 20.0, "{merged:?}");
        assert!(merged.input_ack_latency_ms.p99 > 90.0, "{merged:?}");
        // Counts add, rates weigh by bot-seconds, the swarms' CPU adds, the server's does not.
        assert_eq!(merged.bots, 100);
        assert_eq!(merged.snapshots_received, 30_000);
        assert_eq!(merged.bytes_in_per_bot_per_s, 1100.0);
        assert_eq!(merged.swarm_cpu_cores, Some(1.0));
        assert_eq!(merged.server_cpu_cores, Some(0.2));
        assert_eq!(merged.bots_per_node["ws://a/ws"], 100);
        assert_eq!(merged.matchmake_ms.as_ref().unwrap().count, 4);
        assert_eq!(merged.url, "ws://a/ws + ws://b/ws");
    }

    #[test]
    fn a_report_survives_json_and_merging_one_changes_nothing_measured() {
        let report = part("ws://a/ws", 5, &[1_000, 2_000, 3_000], 700.0);
        let json = serde_json::to_string(&report).unwrap();
        let read: SwarmReport<LineFigures> = serde_json::from_str(&json).unwrap();
        assert_eq!(read, report);
        let merged = merge_reports(vec![read]).unwrap();
        assert_eq!(merged.input_ack_latency_ms, report.input_ack_latency_ms);
        assert_eq!(merged.bytes_in_per_bot_per_s, 700.0);
    }

    #[test]
    fn other_games_and_reports_without_histograms_are_refused() {
        let mut other = part("ws://a/ws", 1, &[1_000], 1.0);
        other.game = "arena".into();
        let error = merge_reports(vec![part("ws://a/ws", 1, &[1_000], 1.0), other]).unwrap_err();
        assert!(error.contains("only one game"), "{error}");
        let mut old = part("ws://a/ws", 1, &[1_000], 1.0);
        old.input_ack_latency_ms.buckets.clear();
        let error = merge_reports(vec![old]).unwrap_err();
        assert!(error.contains("older swarm"), "{error}");
        assert!(merge_reports::<LineFigures>(Vec::new()).is_err());
    }
}
