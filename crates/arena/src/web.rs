//! The arena's browser module (crates/arena/web), embedded into the binary and served next to
//! the engine's page.

use tickwire_net::web::Asset;

/// The arena's files for the browser.
pub const ASSETS: &[Asset] = &[];
