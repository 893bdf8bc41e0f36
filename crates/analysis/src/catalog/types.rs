//! Which column type changes PostgreSQL can make without rewriting the table.
//!
//! `ALTER COLUMN ... TYPE` rewrites the table and rebuilds its indexes unless the old type
//! converts to the new one binary-coercibly and every old value is valid under the new type
//! modifier. PostgreSQL decides that in `ATColumnChangeRequiresRewrite`; this module encodes
//! the cases that matter in practice. Anything not listed is a rewrite: guessing "no rewrite"
//! wrongly would hide the most dangerous kind of migration.

use crate::ast::TypeSpec;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coercion {
    /// Same type and modifier, or a binary-coercible widening: catalog-only.
    NoRewrite,
    Rewrite,
    /// The old type is unknown (no snapshot): assumed to rewrite.
    Unknown,
}

/// Types whose typmod is a precision that can only widen without touching stored values.
const PRECISION_TYPES: &[&str] = &["timestamp", "timestamptz", "time", "timetz", "interval"];

pub fn binary_coercible(from: &TypeSpec, to: &TypeSpec) -> Coercion {
    if from.array != to.array {
        return Coercion::Rewrite;
    }
    if from == to {
        return Coercion::NoRewrite;
    }
    let widened = match (from.base.as_str(), to.base.as_str()) {
        ("varchar", "text") | ("text", "varchar") => to.mods.is_empty(),
        ("varchar", "varchar") | ("varbit", "varbit") => length_widens(&from.mods, &to.mods),
        ("numeric", "numeric") => numeric_widens(&from.mods, &to.mods),
        ("cidr", "inet") => true,
        (a, b) if a == b && PRECISION_TYPES.contains(&a) => length_widens(&from.mods, &to.mods),
        _ => false,
    };
    if widened {
        Coercion::NoRewrite
    } else {
        Coercion::Rewrite
    }
}

/// `varchar(n)` → `varchar(m ≥ n)` or unbounded.
fn length_widens(from: &[i64], to: &[i64]) -> bool {
    match (from.first(), to.first()) {
        (_, None) => true,
        (Some(a), Some(b)) => b >= a,
        (None, Some(_)) => false,
    }
}

/// `numeric(p, s)` → `numeric(p' ≥ p, s)` or unconstrained `numeric`.
fn numeric_widens(from: &[i64], to: &[i64]) -> bool {
    if to.is_empty() {
        return true;
    }
    if from.is_empty() {
        return false;
    }
    let scale = |m: &[i64]| m.get(1).copied().unwrap_or(0);
    to[0] >= from[0] && scale(from) == scale(to)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(from: &str, to: &str) -> Coercion {
        binary_coercible(&TypeSpec::from_catalog(from), &TypeSpec::from_catalog(to))
    }

    #[test]
    fn widenings_are_catalog_only() {
        assert_eq!(change("character varying(20)", "text"), Coercion::NoRewrite);
        assert_eq!(
            change("character varying(20)", "varchar(50)"),
            Coercion::NoRewrite
        );
        assert_eq!(change("varchar(20)", "varchar"), Coercion::NoRewrite);
        assert_eq!(
            change("numeric(10,2)", "numeric(12,2)"),
            Coercion::NoRewrite
        );
        assert_eq!(change("numeric(10,2)", "numeric"), Coercion::NoRewrite);
        assert_eq!(
            change("timestamp(3) with time zone", "timestamptz"),
            Coercion::NoRewrite
        );
        assert_eq!(change("cidr", "inet"), Coercion::NoRewrite);
    }

    #[test]
    fn narrowing_and_real_conversions_rewrite() {
        assert_eq!(change("varchar(50)", "varchar(20)"), Coercion::Rewrite);
        assert_eq!(change("integer", "bigint"), Coercion::Rewrite);
        assert_eq!(change("numeric(10,2)", "numeric(12,4)"), Coercion::Rewrite);
        assert_eq!(change("numeric", "numeric(10,2)"), Coercion::Rewrite);
        assert_eq!(change("text", "varchar(10)"), Coercion::Rewrite);
        assert_eq!(change("timestamp", "timestamptz"), Coercion::Rewrite);
        assert_eq!(change("integer[]", "integer"), Coercion::Rewrite);
    }
}
