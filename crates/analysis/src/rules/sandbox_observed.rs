//! `sandbox-observed`: what the sandbox run saw that the static analysis did not predict — a
//! failure, a stronger lock, a rewrite, a long estimated lock time.
//!
//! Its findings come from the run, not from the parse tree: `crate::sandbox::apply` adds
//! them after the service ran the migration on a clone. Reading the statement alone, there
//! is nothing for it to say, so its check is empty; it is a rule so that its findings carry a
//! rule identity like every other.

use super::{Ctx, Findings};

pub(super) fn check(_ctx: &Ctx, _out: &mut Findings) {}

#[cfg(test)]
mod tests {
    use crate::rules::testing::findings;
    use crate::rules::Rule;

    #[test]
    fn says_nothing_from_the_statement_alone() {
        assert!(findings(
            "ALTER TABLE t ALTER COLUMN c TYPE bigint;",
            Rule::SandboxObserved
        )
        .is_empty());
    }
}
