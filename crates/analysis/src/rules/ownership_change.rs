//! `OWNER TO` and `REASSIGN OWNED`: a new owner takes the old owner's privileges on the object
//! with it (PostgreSQL rewrites the owner's entries of the ACL), so an application whose role
//! owned its tables loses access to them the moment ownership moves.

use pg_query::protobuf::{AlterTableType, RoleSpec};
use pg_query::NodeEnum;

use super::{Ctx, Findings, Rule};
use crate::ast;
use crate::catalog::Disruption;
use crate::report::Severity;

const GRANT_FIRST: &str = "Grant the roles that use the object explicit privileges on it first, so no query depends on ownership, then change the owner by hand, outside schema migrations.";

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    if !ctx
        .effect
        .disruptions
        .iter()
        .any(|d| matches!(d, Disruption::Ownership { .. }))
    {
        return;
    }
    match &ctx.stmt.ast {
        NodeEnum::ReassignOwnedStmt(r) => out.push_with(
            Rule::OwnershipChange,
            Severity::Error,
            format!(
                "REASSIGN OWNED BY {} TO {}: every object {0} owns in this database changes owner, each table under ACCESS EXCLUSIVE, and {0} loses the privileges it held as owner: its queries on them fail with permission denied.",
                ast::roles(&r.roles),
                new_owner(r.newrole.as_ref()),
            ),
            GRANT_FIRST,
        ),
        NodeEnum::AlterOwnerStmt(a) => {
            let name = a
                .relation
                .as_ref()
                .map(ast::relation)
                .or_else(|| a.object.as_deref().and_then(ast::object_name))
                .unwrap_or_default();
            let kind = ast::object_kind(a.object_type());
            owner_to(out, &format!("{kind} `{name}`"), a.newowner.as_ref());
        }
        NodeEnum::AlterTableStmt(s) => {
            let name = s.relation.as_ref().map(ast::relation).unwrap_or_default();
            let kind = ast::object_kind(s.objtype());
            for (_, cmd) in ctx.alter_cmds_of(AlterTableType::AtChangeOwner) {
                owner_to(out, &format!("{kind} `{name}`"), cmd.newowner.as_ref());
            }
        }
        _ => {}
    }
}

fn owner_to(out: &mut Findings, object: &str, owner: Option<&RoleSpec>) {
    let owner = new_owner(owner);
    out.push_with(
        Rule::OwnershipChange,
        Severity::Warning,
        format!(
            "{object} changes owner to {owner}: the current owner's privileges on it pass to {owner}; if the application's role owned it, its queries on it fail with permission denied, and only {owner} may alter, drop or grant on it from now on."
        ),
        GRANT_FIRST,
    );
}

fn new_owner(owner: Option<&RoleSpec>) -> String {
    owner.map(ast::role).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn warn_owner_to() {
        let f = findings(
            "ALTER TABLE t OWNER TO other; ALTER SCHEMA billing OWNER TO other; ALTER FUNCTION f(int) OWNER TO CURRENT_USER",
            Rule::OwnershipChange,
        );
        assert_eq!(f.len(), 3);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn err_reassign_owned() {
        let f = findings("REASSIGN OWNED BY app TO admin", Rule::OwnershipChange);
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn ok_other_alter_table() {
        let sql = "ALTER TABLE t ADD COLUMN a text; CREATE TABLE u (a int); SELECT 1";
        assert!(findings(sql, Rule::OwnershipChange).is_empty());
    }
}
