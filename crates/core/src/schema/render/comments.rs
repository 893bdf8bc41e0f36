//! `COMMENT ON` statements, from `pg_identify_object`'s type and identity: the identity is
//! already quoted and qualified as `COMMENT ON` reads it; only kinds named `name on table`
//! need rearranging.

use super::quote::literal;
use crate::schema::model::SchemaSnapshot;

/// `COMMENT ON`, from `pg_identify_object`'s type and identity. Kinds whose identity is
/// `name on table` become `CONSTRAINT name ON table` and the like.
pub fn comments(snapshot: &SchemaSnapshot) -> Vec<String> {
    snapshot
        .comments
        .iter()
        .filter_map(|c| {
            let target = match c.object_type.as_str() {
                "table column" | "view column" | "materialized view column" => {
                    format!("COLUMN {}", c.identity)
                }
                "composite type" | "enum" | "type" => format!("TYPE {}", c.identity),
                "table constraint" | "trigger" | "policy" | "rule" => {
                    let (name, on) = split_on(&c.identity)?;
                    let kind = match c.object_type.as_str() {
                        "table constraint" => "CONSTRAINT".to_string(),
                        other => other.to_uppercase(),
                    };
                    format!("{kind} {name} ON {on}")
                }
                "domain constraint" => {
                    let (name, on) = split_on(&c.identity)?;
                    format!("CONSTRAINT {name} ON DOMAIN {on}")
                }
                kind => format!("{} {}", kind.to_uppercase(), c.identity),
            };
            Some(format!("COMMENT ON {target} IS {}", literal(&c.text)))
        })
        .collect()
}

/// Splits `name on table` at the ` on ` outside double quotes.
fn split_on(identity: &str) -> Option<(&str, &str)> {
    let mut quoted = false;
    for (i, ch) in identity.char_indices() {
        match ch {
            '"' => quoted = !quoted,
            ' ' if !quoted && identity[i..].starts_with(" on ") => {
                return Some((&identity[..i], &identity[i + 4..]));
            }
            _ => {}
        }
    }
    None
}
