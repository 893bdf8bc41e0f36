//! The PostgreSQL major version a verdict assumes.
//!
//! A few answers of the catalog changed between releases: a constant `DEFAULT` on a new
//! column stopped rewriting the table in 11, `ATTACH PARTITION` stopped locking the parent
//! ACCESS EXCLUSIVE in 12, and some statement forms (`REINDEX CONCURRENTLY`, `DETACH
//! PARTITION … CONCURRENTLY`, virtual generated columns) do not exist before a given
//! release. The version comes from `postgres_version` in `autodb.toml` for `autodb lint`
//! and from the target server's `server_version_num` for analyze; without either, the
//! newest release the parser knows is assumed.

use std::fmt;

use autodb_core::schema::SchemaSnapshot;
use serde::{Deserialize, Serialize};

/// A PostgreSQL major version autodb knows the behaviour of: 10 to 18.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct PostgresVersion(u32);

impl PostgresVersion {
    /// The oldest release modelled: every difference the catalog knows is a change made in
    /// 11 or later, so older servers behave as 10 does.
    pub const OLDEST: Self = Self(10);
    /// The release of the parser (`pg_query`'s grammar), assumed when nothing says otherwise.
    pub const NEWEST: Self = Self(18);

    /// The version `major`, if autodb knows it.
    pub fn new(major: u32) -> Result<Self, UnsupportedVersion> {
        if (Self::OLDEST.0..=Self::NEWEST.0).contains(&major) {
            Ok(Self(major))
        } else {
            Err(UnsupportedVersion(major))
        }
    }

    /// The version a server of release `major` behaves as: older than 10 as 10, newer than
    /// the parser as the newest release known.
    pub fn clamped(major: u32) -> Self {
        Self(major.clamp(Self::OLDEST.0, Self::NEWEST.0))
    }

    /// The version of the server a snapshot was read from; the default when it is unknown.
    pub fn of_snapshot(snapshot: &SchemaSnapshot) -> Self {
        snapshot
            .major_version()
            .map_or_else(Self::default, Self::clamped)
    }

    pub fn major(self) -> u32 {
        self.0
    }

    /// Whether a feature added in release `since` exists on this server.
    pub fn has(self, since: u32) -> bool {
        self.0 >= since
    }
}

impl Default for PostgresVersion {
    fn default() -> Self {
        Self::NEWEST
    }
}

impl TryFrom<u32> for PostgresVersion {
    type Error = UnsupportedVersion;

    fn try_from(major: u32) -> Result<Self, Self::Error> {
        Self::new(major)
    }
}

impl From<PostgresVersion> for u32 {
    fn from(v: PostgresVersion) -> Self {
        v.0
    }
}

impl fmt::Display for PostgresVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PostgreSQL {}", self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "PostgreSQL {0} is not supported: the major version must be between {oldest} and {newest}",
    oldest = PostgresVersion::OLDEST.0,
    newest = PostgresVersion::NEWEST.0
)]
pub struct UnsupportedVersion(pub u32);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_majors_are_accepted() {
        assert_eq!(PostgresVersion::new(13).map(PostgresVersion::major), Ok(13));
        assert_eq!(PostgresVersion::new(9), Err(UnsupportedVersion(9)));
        assert_eq!(PostgresVersion::new(19), Err(UnsupportedVersion(19)));
        assert_eq!(PostgresVersion::default(), PostgresVersion::NEWEST);
    }

    #[test]
    fn a_snapshot_gives_its_server_version_clamped_to_the_known_range() {
        let at = |n| {
            PostgresVersion::of_snapshot(&SchemaSnapshot {
                server_version_num: n,
                ..Default::default()
            })
            .major()
        };
        assert_eq!(at(130011), 13);
        assert_eq!(at(90624), 10);
        assert_eq!(at(190000), 18);
        assert_eq!(at(0), 18, "unknown: the default");
    }
}
