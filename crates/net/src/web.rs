//! The browser client: the engine's core page (assets/web), embedded into the binary at build
//! time and served at `/`, and the game's module next to it ([`crate::Game::web_assets`]).

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

/// Every file of the engine's browser core. `/` serves index.html.
pub const ASSETS: &[Asset] = &[
    Asset {
        path: "/index.html",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../../../assets/web/index.html"),
    },
    Asset {
        path: "/app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../../assets/web/app.js"),
    },
    Asset {
        path: "/protocol.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../../assets/web/protocol.js"),
    },
    Asset {
        path: "/style.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../../assets/web/style.css"),
    },
];

/// The asset for a request path, if any: the core's first, then the game's.
pub fn asset(path: &str, game: &'static [Asset]) -> Option<&'static Asset> {
    let path = if path == "/" { "/index.html" } else { path };
    ASSETS.iter().chain(game).find(|asset| asset.path == path)
}
