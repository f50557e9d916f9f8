//! The `[arena]` table of assets/server.toml documents its keys with their defaults: it must say
//! exactly what `ArenaConfig::default()` says; bad values are refused in one line naming them.

use tickwire_arena::{ArenaConfig, ArenaGame};
use tickwire_net::{Game, ServerConfig};

#[test]
fn server_toml_matches_the_defaults() {
    let config = ServerConfig::default();
    let table = config
        .games
        .get("arena")
        .expect("assets/server.toml has an [arena] table");
    let mut keys: Vec<&str> = table.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["map", "npcs", "view_radius"]);
    let written = config.game_config::<ArenaGame>().expect("the table parses");
    assert_eq!(written, ArenaConfig::default());
    ArenaGame::configure(written).expect("the defaults are valid");
}

#[test]
fn bad_values_are_refused_in_one_line() {
    let config = ServerConfig::from_toml_str("[arena]\nmap = \"nowhere.toml\"", "test").unwrap();
    let arena = config.game_config::<ArenaGame>().unwrap();
    let error = ArenaGame::configure(arena).expect_err("a missing map file");
    assert!(
        error.contains("nowhere.toml") && !error.contains('\n'),
        "{error}"
    );
    let typo = ServerConfig::from_toml_str("[arena]\nnpc = 5", "test").unwrap();
    let error = typo.game_config::<ArenaGame>().expect_err("an unknown key");
    assert!(error.to_string().contains("npc"), "{error}");
    let range = ArenaConfig {
        npcs: 5000,
        ..ArenaConfig::default()
    };
    assert!(ArenaGame::configure(range).unwrap_err().contains("npcs"));
}
