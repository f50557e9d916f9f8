//! The card game's browser module (crates/cards/web), embedded into the binary and served next
//! to the engine's page: `/game.js` is the module the page imports (assets/web/README.md
//! describes its interface), and the files it imports sit beside it.

use tickwire_net::web::{Asset, CSS, JAVASCRIPT};

/// The card game's files for the browser.
pub const ASSETS: &[Asset] = &[
    Asset {
        path: "/game.js",
        content_type: JAVASCRIPT,
        body: include_bytes!("../web/game.js"),
    },
    Asset {
        path: "/game.css",
        content_type: CSS,
        body: include_bytes!("../web/game.css"),
    },
    Asset {
        path: "/wire.js",
        content_type: JAVASCRIPT,
        body: include_bytes!("../web/wire.js"),
    },
    Asset {
        path: "/table.js",
        content_type: JAVASCRIPT,
        body: include_bytes!("../web/table.js"),
    },
];

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// Every module and style sheet in crates/cards/web is served, except the tests and
    /// tickwire.js (on disk it points node at the core; in the browser the core's own file is
    /// served under that name).
    #[test]
    fn every_module_file_is_served() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .expect("crates/cards/web exists")
            .map(|entry| entry.expect("a directory entry").file_name())
            .map(|name| name.to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".js") || name.ends_with(".css"))
            .filter(|name| name != "tickwire.js")
            .map(|name| format!("/{name}"))
            .collect();
        on_disk.sort();
        let mut served: Vec<String> = ASSETS.iter().map(|asset| asset.path.to_string()).collect();
        served.sort();
        assert_eq!(served, on_disk);
    }

    /// The core's files are looked up first: a game file under a core name would never be
    /// served.
    #[test]
    fn no_file_shadows_the_core() {
        for asset in ASSETS {
            assert!(
                tickwire_net::web::ASSETS
                    .iter()
                    .all(|core| core.path != asset.path),
                "{} is a core file's name",
                asset.path
            );
            assert_eq!(
                tickwire_net::web::asset(asset.path, ASSETS).map(|found| found.body),
                Some(asset.body)
            );
        }
        assert!(ASSETS.iter().any(|asset| asset.path == "/game.js"));
    }
}
