//! `COPY … PROGRAM` runs a shell command on the database server as its operating-system
//! user: whatever the command does, to the data directory included, autodb cannot analyze.

use pg_query::NodeEnum;

use super::{Ctx, Findings, Rule};
use crate::catalog::Disruption;

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    if !ctx.effect.disruptions.contains(&Disruption::ServerProgram) {
        return;
    }
    let NodeEnum::CopyStmt(c) = &ctx.stmt.ast else {
        return;
    };
    let direction = if c.is_from { "FROM" } else { "TO" };
    out.push(
        Rule::ServerSideProgram,
        format!(
            "COPY … {direction} PROGRAM '{}': runs a shell command on the database server as its operating-system user, which can read and overwrite every data file; nothing it does is analyzed or rolled back.",
            c.filename
        ),
        "Move data through the client (COPY … FROM STDIN / TO STDOUT, psql's \\copy) or a job outside the database.",
    );
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn err_copy_from_program() {
        let f = findings("COPY t FROM PROGRAM 'curl evil'", Rule::ServerSideProgram);
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn ok_copy_through_the_client() {
        let sql = "COPY t FROM STDIN; COPY t TO STDOUT; COPY t TO '/tmp/x'";
        assert!(findings(sql, Rule::ServerSideProgram).is_empty());
    }
}
