//! Match logs end to end: real servers record real bot matches of the arena and of the card
//! game; every log replays with every state hash matching; one changed command is caught at
//! its exact tick; and committed logs (tests/data) replay on every build, so a change to a
//! game's simulation (or a determinism break) fails here.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tickwire_arena::{Arena, ArenaGame};
use tickwire_bot::{BotGame, BotOptions, run_bot};
use tickwire_cards::{Cards, CardsGame};
use tickwire_net::Game;
use tickwire_net::journal::{self, Entry, FileWriter, Journal, Reader};
use tickwire_net::replay::{ReplayError, Replayer};
use tickwire_protocol::Schema;
use tickwire_tests::start_game_server;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tickwire-replay-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temp dir");
    dir
}

/// A command's movement reversed (the change the divergence tests make).
fn reverse_move(input: &mut tickwire_arena::InputCmd) {
    input.move_x = if input.move_x > 0 { -127 } else { 127 };
    input.move_y = if input.move_y > 0 { -127 } else { 127 };
}

/// Card rounds that start and end quickly, so a short match plays some.
fn quick_rounds(config: &mut tickwire_net::ServerConfig) {
    config.games.insert(
        "cards".into(),
        toml::toml! { countdown_s = 0.5
        break_s = 0.5 },
    );
}

fn bot(url: &str, name: &str, room: &str, seconds: f64, seed: u64) -> BotOptions {
    BotOptions {
        url: url.to_string(),
        name: name.into(),
        room: Some(room.into()),
        duration: Some(Duration::from_secs_f64(seconds)),
        seed,
        ..BotOptions::default()
    }
}

/// Runs `players` bots of game `G` in one room of a recording server for `seconds`, stops the
/// server, and returns the one log it wrote.
async fn record_match<G: Game, W: BotGame>(
    dir: &Path,
    players: u64,
    seconds: f64,
    edit: impl FnOnce(&mut tickwire_net::ServerConfig),
) -> PathBuf {
    let records = dir.to_path_buf();
    let server = start_game_server::<G>(move |config| {
        config.record_dir = records;
        edit(config);
    })
    .await;
    let bots: Vec<_> = (1..=players)
        .map(|seed| {
            tokio::spawn(run_bot::<W>(bot(
                &server.url,
                &format!("p{seed}"),
                "match",
                seconds,
                seed,
            )))
        })
        .collect();
    for bot in bots {
        let report = bot.await.expect("bot task").expect("plays");
        assert_eq!(report.snapshot_errors, 0);
    }
    // The match ends when its room empties (then the server stops).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while tickwire_tests::http_get(server.addr, "/api/rooms").await.1 != "[]" {
        assert!(tokio::time::Instant::now() < deadline, "the room closes");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.stop().await;
    let logs: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("the records dir")
        .map(|entry| entry.expect("an entry").path())
        .collect();
    assert_eq!(logs.len(), 1, "{logs:?}");
    logs.into_iter().next().expect("one log")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_arena_match_replays_with_every_hash_matching() {
    let dir = temp_dir("arena");
    let log = record_match::<ArenaGame, Arena>(&dir, 4, 3.0, |config| {
        config
            .games
            .insert("arena".into(), toml::toml! { npcs = 3 });
    })
    .await;
    let file = std::fs::read(&log).expect("the log");
    let verified = Replayer::<ArenaGame>::open(&file)
        .expect("opens")
        .verify()
        .expect("every hash matches");
    assert_eq!(verified.joins, 4);
    assert!(verified.ticks >= 80, "{verified:?}");
    assert_eq!(verified.checks, u64::from(verified.ticks));
    assert_eq!(verified.hashes, u64::from(verified.ticks / 30));
    assert!(verified.inputs > 200, "{verified:?}");
    assert_eq!(verified.end.as_deref(), Some("empty"));
    assert!(!verified.truncated);
    assert_eq!(verified.header.game_config.trim(), "npcs = 3");

    // One command changed (a move reversed) at the 40th step: the replay names that tick.
    let (changed, step) = change_one_command::<ArenaGame>(&file, 40, reverse_move);
    match Replayer::<ArenaGame>::open(&changed).and_then(Replayer::verify) {
        Err(ReplayError::Diverged { tick, what }) => {
            assert_eq!(tick, step, "{what}");
        }
        other => panic!("expected a divergence at tick {step}, got {other:?}"),
    }

    // A log cut short (as by kill -9) replays up to where it stops, and says it is truncated.
    let cut = &file[..file.len() * 2 / 3];
    let verified = Replayer::<ArenaGame>::open(cut)
        .expect("opens")
        .verify()
        .expect("what is there matches");
    assert!(verified.truncated);
    assert!(verified.end.is_none());
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_game_match_replays_with_every_hash_matching() {
    let dir = temp_dir("cards");
    let log = record_match::<CardsGame, Cards>(&dir, 3, 4.0, quick_rounds).await;
    let file = std::fs::read(&log).expect("the log");
    let verified = Replayer::<CardsGame>::open(&file)
        .expect("opens")
        .verify()
        .expect("every hash matches");
    assert_eq!(verified.joins, 3);
    assert!(verified.inputs > 0, "{verified:?}");
    assert_eq!(verified.end.as_deref(), Some("empty"));
    // The arena's replayer refuses a card game's log.
    assert!(matches!(
        Replayer::<ArenaGame>::open(&file),
        Err(ReplayError::WrongGame { .. })
    ));
    let _ = std::fs::remove_dir_all(dir);
}

/// Rewrites a log with the first command of its `step`th step (counting from 1) changed;
/// returns the new file and that step's tick. Rewriting the log unchanged gives the same bytes
/// (checked), so only the command differs.
fn change_one_command<G: Game>(
    file: &[u8],
    step: u32,
    change: impl Fn(&mut <G::Wire as Schema>::Input),
) -> (Vec<u8>, u32) {
    let (records, cut) = journal::inflate(file).expect("inflates");
    assert!(!cut);
    let rebuilt = rebuild::<G>(&records, None);
    assert_eq!(rebuilt, records, "an unchanged rewrite gives the same log");
    let changed = rebuild::<G>(&records, Some((step, &change)));
    let mut file = FileWriter::new(Vec::new()).expect("writes");
    file.write(&changed).expect("writes");
    (file.finish().expect("finishes"), step)
}

/// Changes one command in place.
type ChangeCommand<'a, G> = dyn Fn(&mut <<G as Game>::Wire as Schema>::Input) + 'a;

/// The log's records written again through a [`Journal`], the `n`th step's first command
/// changed. A check or hash record is written from the recorded value: the journal writes a
/// check after every step and the whole hash every `hash_every` steps, so each recorded hash
/// goes where it was.
fn rebuild<G: Game>(records: &[u8], change: Option<(u32, &ChangeCommand<'_, G>)>) -> Vec<u8> {
    let mut reader = Reader::new();
    let mut journal: Option<Journal> = None;
    let mut steps = 0;
    // The whole hash following a check, looked up ahead: `hashed` writes both at once.
    let mut entries = Vec::new();
    while let Some(entry) = reader.next_entry::<<G::Wire as Schema>::Input>(records) {
        entries.push(entry.expect("reads"));
    }
    let mut index = 0;
    while index < entries.len() {
        let entry = entries[index].clone();
        index += 1;
        if let Entry::Header(header) = &entry {
            journal = Some(Journal::new(header));
            continue;
        }
        let journal = journal.as_mut().expect("a header first");
        match entry {
            Entry::Header(_) => unreachable!(),
            Entry::Join(player, name) => journal.join(player, &name),
            Entry::Leave(player) => journal.leave(player),
            Entry::Step(mut inputs) => {
                steps += 1;
                if let Some((at, change)) = change
                    && at == steps
                {
                    change(&mut inputs.first_mut().expect("a command").input);
                }
                journal.step(&inputs);
            }
            Entry::Check(low) => {
                // The journal writes the whole hash on the recording's schedule; it is the one
                // that follows, when one does.
                let whole = match entries.get(index) {
                    Some(Entry::Hash(hash)) => {
                        index += 1;
                        *hash
                    }
                    _ => 0,
                };
                journal.hashed(u64::from(low), || whole);
            }
            Entry::Hash(_) => panic!("a whole hash without its check"),
            Entry::End(reason) => journal.end(&reason),
        }
    }
    journal.expect("a header").take()
}

/// The committed logs in tests/data replay on this build with every hash matching. They were
/// recorded by `cargo test -p tickwire-tests --test replay -- --ignored record_committed_logs`;
/// when a game's simulation changes on purpose, record them again (and say so in the commit).
#[test]
fn committed_logs_replay_on_this_build() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    for (name, check) in [
        (
            "arena.twmatch",
            verify::<ArenaGame> as fn(&[u8]) -> Result<_, _>,
        ),
        ("cards.twmatch", verify::<CardsGame>),
    ] {
        let file = std::fs::read(data.join(name)).expect("a committed log");
        let verified = check(&file).unwrap_or_else(|error| {
            panic!(
                "tests/data/{name} no longer replays: {error}. If the game's simulation changed \
                 on purpose, record the logs again (see this test's comment)."
            )
        });
        assert!(verified.ticks > 50, "{name}: {verified:?}");
        assert!(!verified.truncated, "{name}: {verified:?}");
    }
}

fn verify<G: Game>(file: &[u8]) -> Result<tickwire_net::replay::Verified, ReplayError> {
    Replayer::<G>::open(file)?.verify()
}

/// Records the logs [`committed_logs_replay_on_this_build`] replays (run on purpose only).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "writes tests/data/*.twmatch; run when a game's simulation changed on purpose"]
async fn record_committed_logs() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    let dir = temp_dir("committed-arena");
    let log = record_match::<ArenaGame, Arena>(&dir, 3, 3.0, |config| {
        config
            .games
            .insert("arena".into(), toml::toml! { npcs = 2 });
    })
    .await;
    std::fs::copy(&log, data.join("arena.twmatch")).expect("copies");
    let dir = temp_dir("committed-cards");
    let log = record_match::<CardsGame, Cards>(&dir, 3, 4.0, quick_rounds).await;
    std::fs::copy(&log, data.join("cards.twmatch")).expect("copies");
}

/// A server replaying a log for spectators: a spectating bot watches the whole match at four
/// times its speed, every snapshot applying, and is told when it ends (1000); a player is
/// refused; a replay room's hashes are checked as it plays (a changed command ends it early,
/// saying where).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_served_replay_is_watched_by_spectators() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    let file = std::fs::read(data.join("arena.twmatch")).expect("a committed log");
    let ticks = verify::<ArenaGame>(&file).expect("replays").ticks;
    let watch = |file: Vec<u8>| async move {
        let server = tickwire_tests::start_game_server_with::<ArenaGame>(
            |_| {},
            move |server| server.with_replay(file, 4.0).expect("a log of this game"),
        )
        .await;
        let started = std::time::Instant::now();
        let report = run_bot::<Arena>(BotOptions {
            spectate: true,
            ..bot(&server.url, "watcher", "any-room", 30.0, 1)
        })
        .await
        .expect("watches");
        let refused = run_bot::<Arena>(bot(&server.url, "player", "any-room", 1.0, 2)).await;
        server.stop().await;
        (report, started.elapsed(), refused)
    };
    let (report, took, refused) = watch(file.clone()).await;
    assert_eq!(report.snapshot_errors, 0, "{report:?}");
    let close = report.disconnect_reason.clone().expect("told it ended");
    assert_eq!(close.code, 1000, "{close:?}");
    assert!(
        close.reason.contains("the match ended (empty)"),
        "{close:?}"
    );
    // Shown from the start (the replay waits for its first spectator) to the last tick, at
    // about four times the recorded 30 Hz (a spectator whose acknowledgements lag that rate
    // gets fewer snapshots, never a gap in the match).
    assert!(
        report.snapshots >= u64::from(ticks) / 2,
        "{report:?} of {ticks}"
    );
    assert!(report.last_tick + 1 >= ticks, "{report:?} of {ticks}");
    let recorded = Duration::from_secs_f64(f64::from(ticks) / 30.0);
    assert!(took < recorded, "{took:?} for {recorded:?} of play");
    let error = refused.expect_err("a player is refused").to_string();
    assert!(error.contains("join as a spectator"), "{error}");

    // A log with one command changed: the served replay stops where it diverges.
    let (changed, step) = change_one_command::<ArenaGame>(&file, 30, reverse_move);
    let (report, _, _) = watch(changed).await;
    let close = report.disconnect_reason.expect("told it stopped");
    assert_eq!(close.code, 1000, "{close:?}");
    assert!(
        close.reason.contains(&format!("diverged at tick {step}")),
        "{close:?}"
    );
}
