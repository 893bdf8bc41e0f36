//! Small readers over `pg_query` parse trees, shared by the catalog and the rules so both
//! name tables, columns and types the same way.

use autodb_core::schema::qualified;
use pg_query::protobuf::{
    ColumnDef, ConstrType, Constraint, Node, ObjectType, RangeVar, RoleSpec, RoleSpecType,
    TypeName, VariableSetKind, VariableSetStmt,
};
use pg_query::{NodeEnum, NodeRef};

/// The name autodb shows for a relation: bare in `public`, `schema.name` elsewhere.
pub fn relation(rv: &RangeVar) -> String {
    let schema = if rv.schemaname.is_empty() {
        "public"
    } else {
        &rv.schemaname
    };
    qualified(schema, &rv.relname)
}

pub fn opt_relation(rv: Option<&RangeVar>) -> Option<String> {
    rv.map(relation)
}

/// The `sval`s of a list of `String` nodes (qualified names, column lists).
pub fn strings(nodes: &[Node]) -> Vec<String> {
    nodes
        .iter()
        .filter_map(|n| match &n.node {
            Some(NodeEnum::String(s)) => Some(s.sval.clone()),
            _ => None,
        })
        .collect()
}

/// A dotted object name from a list of `String` nodes, without `public.`.
pub fn dotted(nodes: &[Node]) -> String {
    let parts = strings(nodes);
    match parts.as_slice() {
        [schema, name] => qualified(schema, name),
        _ => parts.join("."),
    }
}

/// A role as written: its name in backquotes, or `PUBLIC` (every role), `CURRENT_USER`….
pub fn role(spec: &RoleSpec) -> String {
    match spec.roletype() {
        RoleSpecType::RolespecPublic => "PUBLIC".into(),
        RoleSpecType::RolespecCurrentUser => "CURRENT_USER".into(),
        RoleSpecType::RolespecCurrentRole => "CURRENT_ROLE".into(),
        RoleSpecType::RolespecSessionUser => "SESSION_USER".into(),
        RoleSpecType::RolespecCstring | RoleSpecType::Undefined => format!("`{}`", spec.rolename),
    }
}

/// The roles of a list of `RoleSpec` nodes (or of `AccessPriv` nodes naming roles, as
/// `GRANT role TO …` has them), joined for a message.
pub fn roles(nodes: &[Node]) -> String {
    nodes
        .iter()
        .filter_map(|n| match &n.node {
            Some(NodeEnum::RoleSpec(r)) => Some(role(r)),
            Some(NodeEnum::AccessPriv(p)) => Some(format!("`{}`", p.priv_name)),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The name of an object a `GRANT` or `OWNER TO` names, whatever node the grammar used.
pub fn object_name(node: &Node) -> Option<String> {
    match &node.node {
        Some(NodeEnum::RangeVar(rv)) => Some(relation(rv)),
        Some(NodeEnum::String(s)) => Some(s.sval.clone()),
        Some(NodeEnum::List(l)) => Some(dotted(&l.items)),
        Some(NodeEnum::ObjectWithArgs(o)) => Some(format!("{}()", dotted(&o.objname))),
        Some(NodeEnum::Integer(i)) => Some(i.ival.to_string()),
        _ => None,
    }
}

/// The word for an object type, as written after `GRANT … ON` or `ALTER`.
pub fn object_kind(kind: ObjectType) -> &'static str {
    match kind {
        ObjectType::ObjectTable => "table",
        ObjectType::ObjectSequence => "sequence",
        ObjectType::ObjectSchema => "schema",
        ObjectType::ObjectDatabase => "database",
        ObjectType::ObjectFunction => "function",
        ObjectType::ObjectProcedure => "procedure",
        ObjectType::ObjectRoutine => "routine",
        ObjectType::ObjectAggregate => "aggregate",
        ObjectType::ObjectType => "type",
        ObjectType::ObjectDomain => "domain",
        ObjectType::ObjectLanguage => "language",
        ObjectType::ObjectLargeobject => "large object",
        ObjectType::ObjectForeignServer => "server",
        ObjectType::ObjectFdw => "foreign data wrapper",
        ObjectType::ObjectTablespace => "tablespace",
        ObjectType::ObjectParameterAcl => "parameter",
        ObjectType::ObjectView => "view",
        ObjectType::ObjectMatview => "materialized view",
        ObjectType::ObjectForeignTable => "foreign table",
        ObjectType::ObjectIndex => "index",
        ObjectType::ObjectCollation => "collation",
        ObjectType::ObjectConversion => "conversion",
        ObjectType::ObjectOperator => "operator",
        ObjectType::ObjectPublication => "publication",
        ObjectType::ObjectSubscription => "subscription",
        ObjectType::ObjectEventTrigger => "event trigger",
        ObjectType::ObjectStatisticExt => "statistics",
        _ => "object",
    }
}

/// A `SET`/`RESET` as the user wrote it, without the value: `SET search_path`, `RESET ALL`.
pub fn setting(s: &VariableSetStmt) -> String {
    match s.kind() {
        VariableSetKind::VarReset => format!("RESET {}", s.name),
        VariableSetKind::VarResetAll => "RESET ALL".into(),
        _ => format!("SET {}", s.name),
    }
}

/// A type as written in a migration, reduced to what type-change analysis needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeSpec {
    /// Canonical base name: `int4`, `varchar`, `numeric`, `timestamptz`, a user type's name.
    pub base: String,
    pub mods: Vec<i64>,
    pub array: bool,
}

impl TypeSpec {
    pub fn from_ast(tn: &TypeName) -> Self {
        let names = strings(&tn.names);
        let last = names.last().cloned().unwrap_or_default();
        let mods = tn
            .typmods
            .iter()
            .filter_map(|m| match &m.node {
                Some(NodeEnum::AConst(c)) => match &c.val {
                    Some(pg_query::protobuf::a_const::Val::Ival(i)) => Some(i64::from(i.ival)),
                    _ => None,
                },
                _ => None,
            })
            .collect();
        Self {
            base: canonical(&last),
            mods,
            array: !tn.array_bounds.is_empty(),
        }
    }

    /// Reads `format_type` output from a snapshot: `character varying(20)`, `numeric(10,2)`,
    /// `timestamp(3) with time zone`, `integer[]`.
    pub fn from_catalog(data_type: &str) -> Self {
        let (text, array) = match data_type.strip_suffix("[]") {
            Some(t) => (t, true),
            None => (data_type, false),
        };
        let (base, mods) = match (text.find('('), text.find(')')) {
            (Some(open), Some(close)) if close > open => {
                let mods = text[open + 1..close]
                    .split(',')
                    .filter_map(|m| m.trim().parse().ok())
                    .collect();
                let base = format!("{}{}", &text[..open], &text[close + 1..]);
                (base, mods)
            }
            _ => (text.to_string(), Vec::new()),
        };
        Self {
            base: canonical(base.trim()),
            mods,
            array,
        }
    }

    pub fn is(&self, base: &str) -> bool {
        self.base == base
    }
}

impl std::fmt::Display for TypeSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Written the way people write types, not the internal names.
        let name = match self.base.as_str() {
            "int4" => "integer",
            "int8" => "bigint",
            "int2" => "smallint",
            "bpchar" => "char",
            "bool" => "boolean",
            "float8" => "double precision",
            "float4" => "real",
            other => other,
        };
        f.write_str(name)?;
        if !self.mods.is_empty() {
            let mods: Vec<String> = self.mods.iter().map(i64::to_string).collect();
            write!(f, "({})", mods.join(","))?;
        }
        if self.array {
            f.write_str("[]")?;
        }
        Ok(())
    }
}

/// One name per built-in type, whichever spelling the SQL or the catalog used.
fn canonical(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    let name = match lower.as_str() {
        "integer" | "int" | "int4" => "int4",
        "bigint" | "int8" => "int8",
        "smallint" | "int2" => "int2",
        "serial" | "serial4" => "serial",
        "bigserial" | "serial8" => "bigserial",
        "smallserial" | "serial2" => "smallserial",
        "character varying" | "varchar" => "varchar",
        "character" | "char" | "bpchar" => "bpchar",
        "timestamp with time zone" | "timestamptz" => "timestamptz",
        "timestamp without time zone" | "timestamp" => "timestamp",
        "time with time zone" | "timetz" => "timetz",
        "time without time zone" | "time" => "time",
        "numeric" | "decimal" => "numeric",
        "boolean" | "bool" => "bool",
        "double precision" | "float8" => "float8",
        "real" | "float4" => "float4",
        "bit varying" | "varbit" => "varbit",
        other => other,
    };
    name.to_string()
}

/// The constraints written on a column definition.
pub fn column_constraints(cd: &ColumnDef) -> impl Iterator<Item = &Constraint> {
    cd.constraints.iter().filter_map(|n| match &n.node {
        Some(NodeEnum::Constraint(c)) => Some(c.as_ref()),
        _ => None,
    })
}

pub fn has_constraint(cd: &ColumnDef, kind: ConstrType) -> bool {
    column_constraints(cd).any(|c| c.contype() == kind)
}

pub fn column_default(cd: &ColumnDef) -> Option<&Node> {
    column_constraints(cd)
        .find(|c| c.contype() == ConstrType::ConstrDefault)
        .and_then(|c| c.raw_expr.as_deref())
        .or(cd.raw_default.as_deref())
}

/// Whether an expression is the null constant (`NULL`, `NULL::text`): a default that adds
/// nothing to the rows.
pub fn is_null(expr: &Node) -> bool {
    match expr.node.as_ref() {
        Some(NodeEnum::AConst(c)) => c.isnull,
        Some(NodeEnum::TypeCast(t)) => t.arg.as_deref().is_some_and(is_null),
        _ => false,
    }
}

/// Functions known not to be volatile. A default calling anything else is treated as
/// volatile, as PostgreSQL treats a function declared without a volatility.
const NON_VOLATILE: &[&str] = &[
    "now",
    "statement_timestamp",
    "transaction_timestamp",
    "current_setting",
    "lower",
    "upper",
    "length",
    "coalesce",
    "date_trunc",
    "make_date",
    "make_interval",
    "to_char",
    "to_date",
    "to_timestamp",
    "jsonb_build_object",
    "jsonb_build_array",
    "json_build_object",
    "array_length",
    "abs",
    "round",
    "concat",
    "md5",
];

/// The first function called by an expression that is (or may be) volatile.
pub fn volatile_call(expr: &Node) -> Option<String> {
    let node = expr.node.as_ref()?;
    let mut calls = vec![];
    if let NodeEnum::FuncCall(f) = node {
        calls.push(f.funcname.clone());
    }
    for (child, _, _, _) in node.nodes() {
        if let NodeRef::FuncCall(f) = child {
            calls.push(f.funcname.clone());
        }
    }
    calls.into_iter().find_map(|names| {
        let name = strings(&names).last().cloned().unwrap_or_default();
        (!NON_VOLATILE.contains(&name.to_ascii_lowercase().as_str())).then_some(name)
    })
}

/// Whether a `WITH (...)`-style option list names an option.
pub fn has_option(options: &[Node], name: &str) -> bool {
    options.iter().any(
        |o| matches!(&o.node, Some(NodeEnum::DefElem(d)) if d.defname.eq_ignore_ascii_case(name)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_types_read_like_sql_types() {
        let t = TypeSpec::from_catalog("character varying(20)");
        assert_eq!((t.base.as_str(), t.mods.as_slice()), ("varchar", &[20][..]));
        let t = TypeSpec::from_catalog("timestamp(3) with time zone");
        assert_eq!(
            (t.base.as_str(), t.mods.as_slice()),
            ("timestamptz", &[3][..])
        );
        let t = TypeSpec::from_catalog("numeric(10,2)[]");
        assert_eq!(t.to_string(), "numeric(10,2)[]");
        assert_eq!(TypeSpec::from_catalog("integer").base, "int4");
    }
}
