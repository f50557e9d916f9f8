//! The `[cards]` table of assets/server.toml documents every key with its default: it must say
//! exactly what `CardsConfig::default()` says, and out-of-range values are refused by name.

use tickwire_cards::{CardsConfig, CardsGame, CardsSettings};
use tickwire_net::{Game, ServerConfig};

#[test]
fn server_toml_lists_every_key_with_its_default() {
    let config = ServerConfig::default();
    let table = config
        .games
        .get("cards")
        .expect("assets/server.toml has a [cards] table");
    let written: CardsConfig = config.game_config::<CardsGame>().expect("the table parses");
    assert_eq!(written, CardsConfig::default());
    let mut keys: Vec<&str> = table.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["break_s", "countdown_s", "hand_size", "piles", "stall_s"]
    );
    assert_eq!(CardsGame::configure(written), Ok(CardsSettings::default()));
}

#[test]
fn out_of_range_settings_are_refused_with_the_key_named() {
    for (config, key) in [
        (
            CardsConfig {
                piles: 5,
                ..CardsConfig::default()
            },
            "piles",
        ),
        (
            CardsConfig {
                hand_size: 0,
                ..CardsConfig::default()
            },
            "hand_size",
        ),
        (
            CardsConfig {
                stall_s: f32::NAN,
                ..CardsConfig::default()
            },
            "stall_s",
        ),
    ] {
        let error = CardsGame::configure(config).expect_err("refused");
        assert!(error.contains(key), "{error}");
    }
}
