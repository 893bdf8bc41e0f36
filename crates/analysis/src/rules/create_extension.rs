//! `CREATE EXTENSION` runs the extension's install script: objects, functions and often C code
//! autodb does not see, frequently as a superuser. Scored like a `DO` block.

use super::{Ctx, Findings, Rule};
use crate::catalog::Disruption;

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    if !ctx.effect.disruptions.contains(&Disruption::Extension) {
        return;
    }
    out.push(
        Rule::CreateExtension,
        "CREATE EXTENSION runs the extension's install script: objects and code autodb cannot see, often with superuser rights; scored like a DO block.",
        "Install extensions ahead of the migration from operations tooling, pinned to a reviewed version (CREATE EXTENSION … VERSION).",
    );
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn err_forms() {
        let f = findings("CREATE EXTENSION pgcrypto", Rule::CreateExtension);
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
        for sql in [
            "CREATE EXTENSION IF NOT EXISTS postgis SCHEMA gis",
            "CREATE EXTENSION \"uuid-ossp\" WITH SCHEMA public",
        ] {
            assert_eq!(findings(sql, Rule::CreateExtension).len(), 1, "{sql}");
        }
    }

    #[test]
    fn ok_forms() {
        assert!(findings(
            "ALTER EXTENSION pgcrypto UPDATE; DROP EXTENSION x",
            Rule::CreateExtension
        )
        .is_empty());
    }
}
