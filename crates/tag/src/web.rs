//! Tag's browser module (crates/tag/web), embedded into the binary and served next to the
//! engine's page. Tag has none yet: the engine's page connects and shows the session.

use tickwire_net::web::Asset;

/// Tag's files for the browser.
pub const ASSETS: &[Asset] = &[];
