//! A short, stable, upper-case name for what a statement does (`ALTER TABLE`, `CREATE INDEX
//! CONCURRENTLY`, …), shown in reports and error messages.

use pg_query::protobuf::ObjectType;
use pg_query::NodeEnum;

/// A short, stable name for what a statement does.
pub fn operation(ast: &NodeEnum) -> String {
    let name = match ast {
        NodeEnum::CreateStmt(s) if s.partbound.is_some() => "CREATE TABLE PARTITION",
        NodeEnum::CreateStmt(_) => "CREATE TABLE",
        NodeEnum::CreateTableAsStmt(s) if s.objtype() == ObjectType::ObjectMatview => {
            "CREATE MATERIALIZED VIEW"
        }
        NodeEnum::CreateTableAsStmt(_) => "CREATE TABLE AS",
        NodeEnum::AlterTableStmt(s) => return format!("ALTER {}", object_name(s.objtype())),
        NodeEnum::IndexStmt(s) if s.concurrent => "CREATE INDEX CONCURRENTLY",
        NodeEnum::IndexStmt(_) => "CREATE INDEX",
        NodeEnum::DropStmt(s) => {
            let concurrently = if s.concurrent { " CONCURRENTLY" } else { "" };
            return format!("DROP {}{concurrently}", object_name(s.remove_type()));
        }
        NodeEnum::RenameStmt(s) => return format!("ALTER {} RENAME", object_name(s.rename_type())),
        NodeEnum::ViewStmt(_) => "CREATE VIEW",
        NodeEnum::InsertStmt(_) => "INSERT",
        NodeEnum::UpdateStmt(_) => "UPDATE",
        NodeEnum::DeleteStmt(_) => "DELETE",
        NodeEnum::MergeStmt(_) => "MERGE",
        NodeEnum::SelectStmt(_) => "SELECT",
        NodeEnum::TruncateStmt(_) => "TRUNCATE",
        NodeEnum::CreateSchemaStmt(_) => "CREATE SCHEMA",
        NodeEnum::CreateSeqStmt(_) => "CREATE SEQUENCE",
        NodeEnum::AlterSeqStmt(_) => "ALTER SEQUENCE",
        NodeEnum::CreateEnumStmt(_) => "CREATE TYPE",
        NodeEnum::CompositeTypeStmt(_) => "CREATE TYPE",
        NodeEnum::CreateRangeStmt(_) => "CREATE TYPE",
        NodeEnum::AlterEnumStmt(_) => "ALTER TYPE",
        NodeEnum::CreateDomainStmt(_) => "CREATE DOMAIN",
        NodeEnum::AlterDomainStmt(_) => "ALTER DOMAIN",
        NodeEnum::CreateFunctionStmt(s) if s.is_procedure => "CREATE PROCEDURE",
        NodeEnum::CreateFunctionStmt(_) => "CREATE FUNCTION",
        NodeEnum::CreateTrigStmt(_) => "CREATE TRIGGER",
        NodeEnum::CreateExtensionStmt(_) => "CREATE EXTENSION",
        NodeEnum::CommentStmt(_) => "COMMENT",
        NodeEnum::GrantStmt(s) if s.is_grant => "GRANT",
        NodeEnum::GrantStmt(_) => "REVOKE",
        NodeEnum::ReindexStmt(_) => "REINDEX",
        NodeEnum::VacuumStmt(s) if s.is_vacuumcmd => "VACUUM",
        NodeEnum::VacuumStmt(_) => "ANALYZE",
        NodeEnum::ClusterStmt(_) => "CLUSTER",
        NodeEnum::RefreshMatViewStmt(s) if s.concurrent => "REFRESH MATERIALIZED VIEW CONCURRENTLY",
        NodeEnum::RefreshMatViewStmt(_) => "REFRESH MATERIALIZED VIEW",
        NodeEnum::LockStmt(_) => "LOCK TABLE",
        NodeEnum::TransactionStmt(_) => "TRANSACTION",
        NodeEnum::VariableSetStmt(_) => "SET",
        NodeEnum::DoStmt(_) => "DO",
        NodeEnum::CreatePolicyStmt(_) => "CREATE POLICY",
        NodeEnum::AlterObjectSchemaStmt(_) => "ALTER SET SCHEMA",
        NodeEnum::AlterOwnerStmt(_) => "ALTER OWNER",
        NodeEnum::CreatedbStmt(_) => "CREATE DATABASE",
        NodeEnum::DropdbStmt(_) => "DROP DATABASE",
        NodeEnum::CallStmt(_) => "CALL",
        other => return fallback_name(other),
    };
    name.to_string()
}

fn object_name(object: ObjectType) -> String {
    object
        .as_str_name()
        .trim_start_matches("OBJECT_")
        .replace('_', " ")
        .replace("MATVIEW", "MATERIALIZED VIEW")
}

/// `CreateEventTrigStmt` → `CREATE EVENT TRIG`: readable enough for the rare forms.
fn fallback_name(node: &NodeEnum) -> String {
    let debug = format!("{node:?}");
    let variant = debug.split('(').next().unwrap_or("UNKNOWN");
    let variant = variant.strip_suffix("Stmt").unwrap_or(variant);
    let mut out = String::new();
    for (i, ch) in variant.chars().enumerate() {
        if ch.is_uppercase() && i > 0 {
            out.push(' ');
        }
        out.extend(ch.to_uppercase());
    }
    out
}
