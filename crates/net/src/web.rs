//! The browser client: the engine's core page (assets/web), embedded into the binary at build
//! time and served at `/`, and the game's module next to it ([`crate::Game::web_assets`]).
//!
//! The core is game-agnostic: the page imports the game's module from `/game.js`, and the
//! game's files import the core's toolkit from `./tickwire.js`. assets/web/README.md is the
//! interface between the two.

/// One embedded file.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// URL path it is served at.
    pub path: &'static str,
    /// MIME type.
    pub content_type: &'static str,
    /// The bytes.
    pub body: &'static [u8],
}

/// The MIME type of a JavaScript module.
pub const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
/// The MIME type of a style sheet.
pub const CSS: &str = "text/css; charset=utf-8";
/// The MIME type of an HTML page.
pub const HTML: &str = "text/html; charset=utf-8";

/// Every file of the engine's browser core. `/` serves index.html.
pub const ASSETS: &[Asset] = &[
    Asset {
        path: "/index.html",
        content_type: HTML,
        body: include_bytes!("../../../assets/web/index.html"),
    },
    Asset {
        path: "/style.css",
        content_type: CSS,
        body: include_bytes!("../../../assets/web/style.css"),
    },
    Asset {
        path: "/app.js",
        content_type: JAVASCRIPT,
        body: include_bytes!("../../../assets/web/app.js"),
    },
    Asset {
        path: "/tickwire.js",
        content_type: JAVASCRIPT,
        body: include_bytes!("../../../assets/web/tickwire.js"),
    },
    Asset {
        path: "/protocol.js",
        content_type: JAVASCRIPT,
        body: include_bytes!("../../../assets/web/protocol.js"),
    },
    Asset {
        path: "/bits.js",
        content_type: JAVASCRIPT,
        body: include_bytes!("../../../assets/web/bits.js"),
    },
    Asset {
        path: "/delta.js",
        content_type: JAVASCRIPT,
        body: include_bytes!("../../../assets/web/delta.js"),
    },
    Asset {
        path: "/replica.js",
        content_type: JAVASCRIPT,
        body: include_bytes!("../../../assets/web/replica.js"),
    },
    Asset {
        path: "/quant.js",
        content_type: JAVASCRIPT,
        body: include_bytes!("../../../assets/web/quant.js"),
    },
    Asset {
        path: "/timeline.js",
        content_type: JAVASCRIPT,
        body: include_bytes!("../../../assets/web/timeline.js"),
    },
    Asset {
        path: "/predict.js",
        content_type: JAVASCRIPT,
        body: include_bytes!("../../../assets/web/predict.js"),
    },
    Asset {
        path: "/schedule.js",
        content_type: JAVASCRIPT,
        body: include_bytes!("../../../assets/web/schedule.js"),
    },
    Asset {
        path: "/session.js",
        content_type: JAVASCRIPT,
        body: include_bytes!("../../../assets/web/session.js"),
    },
];

/// The asset for a request path, if any: the core's first, then the game's.
pub fn asset(path: &str, game: &'static [Asset]) -> Option<&'static Asset> {
    let path = if path == "/" { "/index.html" } else { path };
    ASSETS.iter().chain(game).find(|asset| asset.path == path)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// Every file of assets/web the browser loads is embedded (tests and docs are not), so the
    /// page never meets a 404 for one of its own modules.
    #[test]
    fn every_core_file_is_served() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/web");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .expect("assets/web exists")
            .map(|entry| entry.expect("a directory entry").file_name())
            .map(|name| name.to_string_lossy().into_owned())
            .filter(|name| {
                [".js", ".css", ".html"]
                    .iter()
                    .any(|ext| name.ends_with(ext))
            })
            .map(|name| format!("/{name}"))
            .collect();
        on_disk.sort();
        let mut served: Vec<String> = ASSETS.iter().map(|asset| asset.path.to_string()).collect();
        served.sort();
        assert_eq!(served, on_disk);
    }

    /// The game's files live under names the core never takes: `/game.js`, `/game.css`, and
    /// whatever else a game serves is looked up after the core's.
    #[test]
    fn the_core_leaves_the_game_names_free() {
        assert!(ASSETS.iter().all(|asset| !asset.path.starts_with("/game")));
        assert_eq!(asset("/", &[]).map(|asset| asset.path), Some("/index.html"));
        const GAME: &[Asset] = &[Asset {
            path: "/game.js",
            content_type: JAVASCRIPT,
            body: b"",
        }];
        assert_eq!(
            asset("/game.js", GAME).map(|asset| asset.path),
            Some("/game.js")
        );
        assert!(asset("/game.js", &[]).is_none());
    }
}
