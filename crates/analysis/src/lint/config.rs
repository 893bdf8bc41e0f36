//! `autodb.toml`: a repository's lint settings, found by the CLI at the repository root.
//!
//! ```toml
//! exclude = ["require-concurrent-index-creation"]  # rules never reported
//! transaction = false   # each statement commits alone (default: a file is one transaction)
//! postgres_version = 13  # the server's major version, 10 to 18 (default: 18, the parser's)
//! ```
//!
//! The CLI reads the file and parses it into this type (`toml`); this module says what the
//! settings mean. An unknown key or rule name is an error, not ignored: a misspelt exclusion
//! would otherwise silently keep reporting, or a misspelt key silently do nothing.

use serde::Deserialize;

use crate::report::Analysis;
use crate::{PostgresVersion, Rule, Runner};

/// The settings, as written in `autodb.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Rules whose findings are not reported. Scores do not change: they come from what the
    /// statement does, not from which rules spoke (as with `-- autodb:ignore`).
    #[serde(default)]
    exclude: Vec<String>,
    /// Whether the migration runner wraps each file in a transaction (most do; autodb's
    /// executor does). `false`: every statement commits on its own, so no lock is held from
    /// one statement to the next.
    #[serde(default = "yes")]
    transaction: bool,
    /// The major version of the server the migrations run on; a version outside 10–18 is
    /// an error (`PostgresVersion`'s deserialization). Unset: the newest, or with `--schema`
    /// a snapshot's own server version.
    #[serde(default)]
    postgres_version: Option<PostgresVersion>,
    #[serde(skip)]
    excluded: Vec<Rule>,
}

fn yes() -> bool {
    true
}

impl Default for Config {
    fn default() -> Self {
        Self {
            exclude: Vec::new(),
            transaction: true,
            postgres_version: None,
            excluded: Vec::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("unknown rule `{0}` in exclude (see docs/analysis.md for the rule names)")]
    UnknownRule(String),
}

impl Config {
    /// Checks the deserialized settings: every excluded rule must exist.
    pub fn validated(mut self) -> Result<Self, ConfigError> {
        self.excluded = self
            .exclude
            .iter()
            .map(|name| {
                name.parse::<Rule>()
                    .map_err(|_| ConfigError::UnknownRule(name.clone()))
            })
            .collect::<Result<_, _>>()?;
        Ok(self)
    }

    /// The runner the settings describe.
    pub fn runner(&self) -> Runner {
        Runner {
            autocommit: !self.transaction,
            postgres_version: self.postgres_version.unwrap_or_default(),
            ..Runner::default()
        }
    }

    /// The server version the file sets, if it sets one.
    pub fn postgres_version(&self) -> Option<PostgresVersion> {
        self.postgres_version
    }

    /// Drops the excluded rules' findings from a report.
    pub fn drop_excluded(&self, analysis: &mut Analysis) {
        if self.excluded.is_empty() {
            return;
        }
        for s in &mut analysis.statements {
            s.findings.retain(|f| !self.excluded.contains(&f.rule));
        }
    }
}
