//! Arenas: size, walls and spawn points, loaded from TOML and validated.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use tickwire_sim::Vec2;

/// Smallest allowed width or height of a map, in meters.
pub const MIN_MAP_SIZE: f32 = 1.0;
/// Largest allowed width or height of a map, in meters.
pub const MAX_MAP_SIZE: f32 = 4096.0;
/// Most walls a map may have.
pub const MAX_WALLS: usize = 4096;
/// Most spawn points a map may have.
pub const MAX_SPAWNS: usize = 256;
/// Largest map text accepted, in bytes (checked before parsing).
pub const MAX_MAP_TEXT_BYTES: usize = 1 << 20;

/// Maps compiled into the crate, by name.
const BUILTIN_MAPS: &[(&str, &str)] = &[
    ("arena", include_str!("../../../assets/maps/arena.toml")),
    ("open", include_str!("../../../assets/maps/open.toml")),
];
const BUILTIN_NAMES: &[&str] = &["arena", "open"];

/// An arena: a rectangle from `(0, 0)` to `(width, height)` with walls and spawn points.
#[derive(Clone, Debug, PartialEq)]
pub struct Map {
    /// The map's name (a builtin's name or the file stem).
    pub name: String,
    /// Extent along x, in meters.
    pub width: f32,
    /// Extent along y, in meters.
    pub height: f32,
    /// Solid axis-aligned rectangles that block players, NPCs and projectiles.
    pub walls: Vec<Wall>,
    /// Where players (and, as a fallback, NPCs) appear.
    pub spawns: Vec<Vec2>,
}

/// A solid axis-aligned rectangle.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Wall {
    /// Corner with the smallest coordinates.
    pub min: Vec2,
    /// Corner with the largest coordinates.
    pub max: Vec2,
}

/// Why a map could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MapError {
    /// The map file could not be read.
    #[error("cannot read map file {}", path.display())]
    Io {
        /// The file that was being read.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The map text is longer than [`MAX_MAP_TEXT_BYTES`].
    #[error("map {name} is larger than {max} bytes")]
    TooLarge {
        /// The map's name.
        name: String,
        /// The limit, [`MAX_MAP_TEXT_BYTES`].
        max: usize,
    },
    /// The map text is not TOML of the expected shape.
    #[error("cannot parse map {name}")]
    Parse {
        /// The map's name.
        name: String,
        /// What the TOML parser said, including the location.
        #[source]
        source: Box<toml::de::Error>,
    },
    /// The map parsed but breaks a rule (size, wall or spawn placement, counts).
    #[error("invalid map {name}: {reason}")]
    Invalid {
        /// The map's name.
        name: String,
        /// Which rule it breaks.
        reason: String,
    },
}

/// The TOML shape of a map file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MapFile {
    width: f32,
    height: f32,
    #[serde(default)]
    walls: Vec<WallFile>,
    spawns: Vec<[f32; 2]>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WallFile {
    min: [f32; 2],
    max: [f32; 2],
}

impl Map {
    /// Parses and validates a map from TOML text (see `assets/maps/arena.toml` for the format).
    pub fn from_toml_str(name: &str, text: &str) -> Result<Map, MapError> {
        if text.len() > MAX_MAP_TEXT_BYTES {
            return Err(MapError::TooLarge {
                name: name.to_owned(),
                max: MAX_MAP_TEXT_BYTES,
            });
        }
        let file: MapFile = toml::from_str(text).map_err(|source| MapError::Parse {
            name: name.to_owned(),
            source: Box::new(source),
        })?;
        let map = Map {
            name: name.to_owned(),
            width: file.width,
            height: file.height,
            walls: file
                .walls
                .iter()
                .map(|wall| Wall {
                    min: Vec2::from(wall.min),
                    max: Vec2::from(wall.max),
                })
                .collect(),
            spawns: file.spawns.iter().map(|&spawn| Vec2::from(spawn)).collect(),
        };
        map.validate()?;
        Ok(map)
    }

    /// Reads, parses and validates a map file; the map is named after the file stem.
    pub fn load(path: &Path) -> Result<Map, MapError> {
        let name = path
            .file_stem()
            .map(|stem| stem.to_string_lossy().into_owned())
            .unwrap_or_default();
        let io_error = |source| MapError::Io {
            path: path.to_owned(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io_error)?;
        let mut text = String::new();
        // Read one byte past the limit, so an oversized file is detected without reading it all.
        file.take(MAX_MAP_TEXT_BYTES as u64 + 1)
            .read_to_string(&mut text)
            .map_err(io_error)?;
        Map::from_toml_str(&name, &text)
    }

    /// A map compiled into the crate (`assets/maps/<name>.toml`), if there is one by that name.
    pub fn builtin(name: &str) -> Option<Map> {
        let (name, text) = BUILTIN_MAPS.iter().find(|(builtin, _)| *builtin == name)?;
        // The builtin maps are checked by a test, so this never discards an error in practice.
        Map::from_toml_str(name, text).ok()
    }

    /// The names [`Map::builtin`] accepts.
    pub fn builtin_names() -> &'static [&'static str] {
        BUILTIN_NAMES
    }

    /// Checks every rule a map must follow: finite numbers, `MIN_MAP_SIZE <= width, height <=
    /// MAX_MAP_SIZE`, walls inside the bounds with `min < max`, between 1 and `MAX_SPAWNS` spawn
    /// points inside the bounds and outside every wall, at most `MAX_WALLS` walls.
    pub fn validate(&self) -> Result<(), MapError> {
        let invalid = |reason: String| MapError::Invalid {
            name: self.name.clone(),
            reason,
        };
        let size_ok = |size: f32| (MIN_MAP_SIZE..=MAX_MAP_SIZE).contains(&size);
        if !size_ok(self.width) || !size_ok(self.height) {
            return Err(invalid(format!(
                "size {} x {} is outside {MIN_MAP_SIZE}..={MAX_MAP_SIZE} m",
                self.width, self.height
            )));
        }
        if self.walls.len() > MAX_WALLS {
            return Err(invalid(format!(
                "{} walls, more than the limit of {MAX_WALLS}",
                self.walls.len()
            )));
        }
        if self.spawns.is_empty() {
            return Err(invalid("no spawn points".to_owned()));
        }
        if self.spawns.len() > MAX_SPAWNS {
            return Err(invalid(format!(
                "{} spawn points, more than the limit of {MAX_SPAWNS}",
                self.spawns.len()
            )));
        }
        for (index, wall) in self.walls.iter().enumerate() {
            if !wall.min.is_finite() || !wall.max.is_finite() {
                return Err(invalid(format!("wall {index} has a non-finite corner")));
            }
            if wall.min.x >= wall.max.x || wall.min.y >= wall.max.y {
                return Err(invalid(format!("wall {index} has min not below max")));
            }
            if !self.contains(wall.min) || !self.contains(wall.max) {
                return Err(invalid(format!("wall {index} is outside the map")));
            }
        }
        for (index, &spawn) in self.spawns.iter().enumerate() {
            if !spawn.is_finite() || !self.contains(spawn) {
                return Err(invalid(format!("spawn {index} is outside the map")));
            }
            if let Some(wall) = self.walls.iter().position(|wall| wall.contains(spawn)) {
                return Err(invalid(format!("spawn {index} is inside wall {wall}")));
            }
        }
        Ok(())
    }

    /// Whether `point` lies inside the map's bounds (edges included).
    pub fn contains(&self, point: Vec2) -> bool {
        (0.0..=self.width).contains(&point.x) && (0.0..=self.height).contains(&point.y)
    }

    /// The map's center point.
    pub fn center(&self) -> Vec2 {
        Vec2::new(self.width, self.height) * 0.5
    }

    /// Whether a circle overlaps any wall or sticks out of the map.
    pub fn circle_blocked(&self, center: Vec2, radius: f32) -> bool {
        center.x < radius
            || center.y < radius
            || center.x > self.width - radius
            || center.y > self.height - radius
            || self
                .walls
                .iter()
                .any(|wall| wall.distance_squared(center) < radius * radius)
    }

    /// A copy that breaks no rule [`Map::validate`] checks, for [`World::new`](crate::World::new),
    /// which cannot fail: sizes are clamped, bad walls and spawns are dropped, counts are
    /// truncated, and the center becomes the spawn point if none is left.
    pub(crate) fn repaired(mut self) -> Map {
        let size = |size: f32| {
            if size.is_finite() {
                size.clamp(MIN_MAP_SIZE, MAX_MAP_SIZE)
            } else {
                MIN_MAP_SIZE
            }
        };
        self.width = size(self.width);
        self.height = size(self.height);
        let bounds = Wall {
            min: Vec2::ZERO,
            max: Vec2::new(self.width, self.height),
        };
        self.walls.retain(|wall| {
            wall.min.is_finite()
                && wall.max.is_finite()
                && wall.min.x < wall.max.x
                && wall.min.y < wall.max.y
                && bounds.contains(wall.min)
                && bounds.contains(wall.max)
        });
        self.walls.truncate(MAX_WALLS);
        let walls = &self.walls;
        self.spawns.retain(|&spawn| {
            spawn.is_finite()
                && bounds.contains(spawn)
                && !walls.iter().any(|wall| wall.contains(spawn))
        });
        self.spawns.truncate(MAX_SPAWNS);
        if self.spawns.is_empty() {
            self.spawns.push(self.center());
        }
        self
    }
}

impl Wall {
    /// Whether `point` lies inside the rectangle (edges included).
    pub fn contains(&self, point: Vec2) -> bool {
        point.cmpge(self.min).all() && point.cmple(self.max).all()
    }

    /// The point of the rectangle closest to `point`.
    pub fn closest_point(&self, point: Vec2) -> Vec2 {
        point.clamp(self.min, self.max)
    }

    /// Squared distance from `point` to the rectangle (0 inside).
    pub fn distance_squared(&self, point: Vec2) -> f32 {
        self.closest_point(point).distance_squared(point)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_invalid(text: &str, expected_reason: &str) {
        match Map::from_toml_str("test", text) {
            Err(MapError::Invalid { reason, .. }) => assert!(
                reason.contains(expected_reason),
                "reason {reason:?} should contain {expected_reason:?}"
            ),
            other => panic!("expected an invalid map error, got {other:?}"),
        }
    }

    #[test]
    fn builtin_maps_load() {
        for name in Map::builtin_names() {
            let map = Map::builtin(name).unwrap_or_else(|| panic!("builtin map {name} is broken"));
            assert_eq!(map.name, *name);
            assert!(!map.spawns.is_empty());
            // Every spawn point has room for a player.
            for spawn in &map.spawns {
                assert!(
                    !map.circle_blocked(*spawn, 0.6),
                    "{name}: spawn {spawn} is cramped"
                );
            }
        }
        assert_eq!(BUILTIN_MAPS.len(), BUILTIN_NAMES.len());
        assert!(Map::builtin("nope").is_none());
        let arena = Map::builtin("arena").unwrap();
        assert!(arena.walls.len() >= 10);
        assert!(arena.spawns.len() >= 8);
    }

    #[test]
    fn minimal_map_parses() {
        let map = Map::from_toml_str("tiny", "width = 10.0\nheight = 5.0\nspawns = [[1.0, 1.0]]")
            .unwrap();
        assert_eq!(map.width, 10.0);
        assert!(map.walls.is_empty());
        assert_eq!(map.spawns, vec![Vec2::new(1.0, 1.0)]);
    }

    #[test]
    fn bad_maps_are_rejected() {
        check_invalid("width = 0.5\nheight = 5.0\nspawns = [[0.2, 0.2]]", "size");
        check_invalid(
            "width = 5000.0\nheight = 5.0\nspawns = [[1.0, 1.0]]",
            "size",
        );
        check_invalid("width = nan\nheight = 5.0\nspawns = [[1.0, 1.0]]", "size");
        check_invalid("width = 10.0\nheight = 10.0\nspawns = []", "no spawn");
        check_invalid(
            "width = 10.0\nheight = 10.0\nspawns = [[11.0, 1.0]]",
            "outside",
        );
        check_invalid(
            "width = 10.0\nheight = 10.0\nspawns = [[inf, 1.0]]",
            "outside",
        );
        check_invalid(
            "width = 10.0\nheight = 10.0\nspawns = [[1.0, 1.0]]\n[[walls]]\nmin = [2.0, 2.0]\nmax = [1.0, 3.0]",
            "min not below max",
        );
        check_invalid(
            "width = 10.0\nheight = 10.0\nspawns = [[1.0, 1.0]]\n[[walls]]\nmin = [2.0, 2.0]\nmax = [12.0, 3.0]",
            "outside the map",
        );
        check_invalid(
            "width = 10.0\nheight = 10.0\nspawns = [[1.0, 1.0]]\n[[walls]]\nmin = [nan, 2.0]\nmax = [3.0, 3.0]",
            "non-finite",
        );
        check_invalid(
            "width = 10.0\nheight = 10.0\nspawns = [[2.5, 2.5]]\n[[walls]]\nmin = [2.0, 2.0]\nmax = [3.0, 3.0]",
            "inside wall 0",
        );
        let many_spawns = format!(
            "width = 10.0\nheight = 10.0\nspawns = [{}]",
            vec!["[1.0, 1.0]"; MAX_SPAWNS + 1].join(", ")
        );
        check_invalid(&many_spawns, "spawn points, more than");
    }

    #[test]
    fn malformed_text_is_a_parse_error() {
        for text in [
            "width = ",
            "width = 10.0\nheight = 10.0",
            "width = 10.0\nheight = 10.0\nspawns = [[1.0, 1.0]]\ncolour = 3",
            "width = \"wide\"\nheight = 10.0\nspawns = [[1.0, 1.0]]",
        ] {
            assert!(
                matches!(Map::from_toml_str("bad", text), Err(MapError::Parse { .. })),
                "{text:?} should not parse"
            );
        }
        let huge = " ".repeat(MAX_MAP_TEXT_BYTES + 1);
        assert!(matches!(
            Map::from_toml_str("huge", &huge),
            Err(MapError::TooLarge { .. })
        ));
    }

    #[test]
    fn load_names_the_map_after_the_file() {
        let dir = std::env::temp_dir().join(format!("tickwire-sim-map-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("little.toml");
        std::fs::write(&path, "width = 8.0\nheight = 8.0\nspawns = [[4.0, 4.0]]").unwrap();
        let map = Map::load(&path).unwrap();
        assert_eq!(map.name, "little");
        let missing = Map::load(&dir.join("missing.toml")).unwrap_err();
        assert!(matches!(missing, MapError::Io { .. }));
        assert!(missing.to_string().contains("missing.toml"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn repaired_always_validates() {
        let broken = Map {
            name: "broken".to_owned(),
            width: f32::NAN,
            height: 1e9,
            walls: vec![Wall {
                min: Vec2::new(5.0, 5.0),
                max: Vec2::new(1.0, 1.0),
            }],
            spawns: vec![Vec2::new(f32::INFINITY, 0.0)],
        };
        let repaired = broken.repaired();
        repaired.validate().unwrap();
        assert!(repaired.walls.is_empty());
        assert_eq!(repaired.spawns.len(), 1);
    }
}
