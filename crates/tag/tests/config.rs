//! The `[tag]` table of assets/server.toml documents every key with its default: it must say
//! exactly what `TagConfig::default()` says, and be accepted by `configure`.

use tickwire_net::{Game, ServerConfig};
use tickwire_tag::{TagConfig, TagGame};

#[test]
fn server_toml_lists_every_key_with_its_default() {
    let config = ServerConfig::default();
    let table = config
        .games
        .get("tag")
        .expect("assets/server.toml has a [tag] table");
    let written: TagConfig = config.game_config::<TagGame>().expect("the table parses");
    assert_eq!(written, TagConfig::default());
    // Every field is written out, not left to the default.
    let fields = ["width", "height", "radius", "speed", "accel", "immunity_s"];
    let mut keys: Vec<&str> = table.keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut expected = fields.to_vec();
    expected.sort_unstable();
    assert_eq!(keys, expected);
    assert_eq!(TagGame::configure(written), Ok(TagConfig::default()));
}

#[test]
fn out_of_range_settings_are_refused_with_the_key_named() {
    let too_small = TagConfig {
        width: 2.0,
        ..TagConfig::default()
    };
    let error = TagGame::configure(too_small).expect_err("a 2 m field is refused");
    assert!(error.contains("width"), "{error}");
    let too_big = TagConfig {
        radius: 3.0,
        height: 8.0,
        ..TagConfig::default()
    };
    let error = TagGame::configure(too_big).expect_err("runners too big for the field");
    assert!(error.contains("radius"), "{error}");
}
