//! Replication slots outlive the migration: a created slot makes the server keep every WAL
//! segment until a consumer reads it (the disk fills if none does); a dropped or advanced slot
//! loses what a replica or change-data consumer had not read yet.

use super::{Ctx, Findings, Rule};
use crate::catalog::Disruption;

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    if !ctx
        .effect
        .disruptions
        .contains(&Disruption::ReplicationSlot)
    {
        return;
    }
    out.push(
        Rule::ReplicationSlot,
        "Creates, drops, copies or advances a replication slot: a new slot retains WAL until consumed and can fill the disk; dropping or advancing one loses changes a replica or consumer had not read.",
        "Manage replication slots from operations tooling with monitoring of pg_replication_slots, not from a schema migration.",
    );
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn err_forms() {
        let f = findings(
            "SELECT pg_create_logical_replication_slot('cdc', 'pgoutput')",
            Rule::ReplicationSlot,
        );
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
        for sql in [
            "SELECT pg_drop_replication_slot('cdc')",
            "SELECT pg_catalog.pg_replication_slot_advance('cdc', '0/0')",
            "SELECT * FROM pg_create_physical_replication_slot('replica')",
        ] {
            assert_eq!(findings(sql, Rule::ReplicationSlot).len(), 1, "{sql}");
        }
    }

    #[test]
    fn ok_forms() {
        assert!(findings(
            "SELECT * FROM pg_replication_slots; SELECT app.pg_drop_replication_slot('x')",
            Rule::ReplicationSlot
        )
        .is_empty());
    }
}
