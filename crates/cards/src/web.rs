//! The card game's browser module (crates/cards/web), embedded into the binary and served next
//! to the engine's page.

use tickwire_net::web::Asset;

/// The card game's files for the browser.
pub const ASSETS: &[Asset] = &[];
