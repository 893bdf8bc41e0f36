//! What changes a statement's effect without changing a table's structure.
//!
//! The drift scope's fingerprint (`autodb_core::schema::scope_fingerprint`) covers the
//! columns, constraints, indexes and foreign keys of the tables a migration touches. An
//! approved `UPDATE orders …` also does whatever a trigger added to `orders` since does, a
//! rule rewrites it into, a policy filters, or a view redefined over it passes on; an approved
//! `TRUNCATE staging` empties whatever was made to inherit from `staging`; a name resolves to
//! whatever relation appeared earlier in the search path. [`read`] asks the database for all
//! of it, object by object, in one query, and hashes each part; the approval token binds the
//! hashes ([`Binding`]) and the executor asks again, inside its transaction and after locking
//! the named tables, before it applies anything.
//!
//! Per relation in the scope and every relation that inherits from it (partitions
//! included): its kind, owner and row-level-security switches; its inheritance parents and
//! children; its triggers (definition, enabled state and the function they run: body,
//! `SECURITY DEFINER`, settings, owner); its rules; its policies; a view's definition; and
//! the functions its defaults, checks, generated columns and index expressions call. Per name
//! the migration uses: which relation it resolves to (by oid) through the pinned search path.
//! Per function it calls by name: every function of that name it could resolve to, with its
//! body. Per table: its size on disk, compared separately (a table may grow a little; it may
//! not grow by an order of magnitude unseen).
//!
//! The query runs in sessions whose `search_path` autodb pinned (`pg_catalog` first, and
//! `pg_temp` last where the migration shares the session); it names catalogs and functions
//! with `pg_catalog.` all the same.

use std::collections::BTreeMap;

use autodb_analysis::names::UsedNames;
use sha2::{Digest, Sha256};
use tokio_postgres::GenericClient;

use crate::domain::Binding;

/// One part of an object's behaviour: `key` names the object and the kind of part
/// (`triggers orders`), `detail` is one item of it.
const EFFECTS: &str = r#"
WITH RECURSIVE
path AS (
    SELECT p.nsp, p.pos FROM pg_catalog.unnest($1::pg_catalog.text[]) WITH ORDINALITY AS p(nsp, pos)),
scope AS (
    SELECT c.oid, s.display
      FROM ROWS FROM (pg_catalog.unnest($2::pg_catalog.text[]), pg_catalog.unnest($3::pg_catalog.text[]),
                     pg_catalog.unnest($4::pg_catalog.text[])) AS s(nsp, rel, display)
      JOIN pg_catalog.pg_namespace n ON n.nspname = s.nsp
      JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = s.rel),
tree AS (
    SELECT oid, display FROM scope
    UNION
    SELECT i.inhrelid, t.display FROM pg_catalog.pg_inherits i JOIN tree t ON i.inhparent = t.oid),
-- Named only where a row needs it: a CTE used more than once is otherwise computed whole
-- (every relation's name, every function's detail — ~95 ms at 10,000 tables, per execution).
rel_name AS NOT MATERIALIZED (
    SELECT c.oid, pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname) AS name
      FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace),
code AS (
    -- Functions that run when a tree relation is written: defaults, checks, generated
    -- columns, index expressions.
    SELECT t.display, d.refobjid AS fn
      FROM tree t
      JOIN pg_catalog.pg_attrdef a ON a.adrelid = t.oid
      JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_attrdef'::pg_catalog.regclass
                                 AND d.objid = a.oid
                                 AND d.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass
    UNION
    SELECT t.display, d.refobjid
      FROM tree t
      JOIN pg_catalog.pg_constraint k ON k.conrelid = t.oid
      JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_constraint'::pg_catalog.regclass
                                 AND d.objid = k.oid
                                 AND d.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass
    UNION
    SELECT t.display, d.refobjid
      FROM tree t
      JOIN pg_catalog.pg_index x ON x.indrelid = t.oid
      JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                                 AND d.objid = x.indexrelid
                                 AND d.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass),
called AS (
    SELECT f.nsp, f.name FROM ROWS FROM (pg_catalog.unnest($7::pg_catalog.text[]), pg_catalog.unnest($8::pg_catalog.text[])) AS f(nsp, name)),
fn AS NOT MATERIALIZED (
    SELECT p.oid,
           pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(p.proname)
             || '(' || pg_catalog.pg_get_function_identity_arguments(p.oid) || ')'
             || ' ' || pg_catalog.md5(COALESCE(p.prosrc, '') || '/' || COALESCE(p.probin, ''))
             || ' definer=' || p.prosecdef::pg_catalog.text
             || ' config=' || COALESCE(p.proconfig::pg_catalog.text, '')
             || ' owner=' || pg_catalog.pg_get_userbyid(p.proowner)::pg_catalog.text
             || ' volatile=' || p.provolatile::pg_catalog.text
             || ' language=' || p.prolang::pg_catalog.text AS detail
      FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace)
SELECT 'relation ' || s.display, c.relkind::pg_catalog.text || ' oid=' || c.oid::pg_catalog.text
       || ' owner=' || pg_catalog.pg_get_userbyid(c.relowner)::pg_catalog.text
       || ' rls=' || c.relrowsecurity::pg_catalog.text || '/' || c.relforcerowsecurity::pg_catalog.text
  FROM scope s JOIN pg_catalog.pg_class c ON c.oid = s.oid
UNION ALL
SELECT 'inheritance ' || t.display, 'child ' || r.name || ' owner='
       || pg_catalog.pg_get_userbyid(c.relowner)::pg_catalog.text
  FROM tree t JOIN scope s ON s.display = t.display AND s.oid <> t.oid
  JOIN rel_name r ON r.oid = t.oid JOIN pg_catalog.pg_class c ON c.oid = t.oid
UNION ALL
SELECT 'inheritance ' || s.display, 'parent ' || r.name
  FROM scope s JOIN pg_catalog.pg_inherits i ON i.inhrelid = s.oid JOIN rel_name r ON r.oid = i.inhparent
UNION ALL
SELECT 'triggers ' || t.display, pg_catalog.pg_get_triggerdef(g.oid) || ' enabled=' || g.tgenabled::pg_catalog.text
       || ' runs ' || f.detail
  FROM tree t JOIN pg_catalog.pg_trigger g ON g.tgrelid = t.oid JOIN fn f ON f.oid = g.tgfoid
UNION ALL
SELECT 'rules ' || t.display, pg_catalog.pg_get_ruledef(w.oid) || ' enabled=' || w.ev_enabled::pg_catalog.text
  FROM tree t JOIN pg_catalog.pg_rewrite w ON w.ev_class = t.oid
UNION ALL
SELECT 'policies ' || t.display, p.polname::pg_catalog.text || ' ' || p.polcmd::pg_catalog.text
       || ' permissive=' || p.polpermissive::pg_catalog.text
       || ' roles=' || p.polroles::pg_catalog.text
       || ' using=' || COALESCE(pg_catalog.pg_get_expr(p.polqual, p.polrelid), '')
       || ' check=' || COALESCE(pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid), '')
  FROM tree t JOIN pg_catalog.pg_policy p ON p.polrelid = t.oid
UNION ALL
SELECT 'definition ' || s.display, pg_catalog.pg_get_viewdef(c.oid)
  FROM scope s JOIN pg_catalog.pg_class c ON c.oid = s.oid WHERE c.relkind IN ('v', 'm')
UNION ALL
SELECT 'code ' || c.display, f.detail FROM code c JOIN fn f ON f.oid = c.fn
UNION ALL
SELECT 'resolves ' || CASE WHEN u.nsp = '' THEN '' ELSE u.nsp || '.' END || u.rel,
       COALESCE((
         SELECT r.name || ' oid=' || c.oid::pg_catalog.text || ' kind=' || c.relkind::pg_catalog.text
                || COALESCE(' on ' || (SELECT o.name FROM pg_catalog.pg_index x
                                                   JOIN rel_name o ON o.oid = x.indrelid
                                                  WHERE x.indexrelid = c.oid), '')
           FROM pg_catalog.pg_class c
           JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
           JOIN rel_name r ON r.oid = c.oid
           LEFT JOIN path p ON p.nsp = n.nspname
          WHERE c.relname = u.rel
            AND CASE WHEN u.nsp = '' THEN p.pos IS NOT NULL ELSE n.nspname = u.nsp END
          ORDER BY p.pos LIMIT 1), 'absent')
  FROM ROWS FROM (pg_catalog.unnest($5::pg_catalog.text[]), pg_catalog.unnest($6::pg_catalog.text[])) AS u(nsp, rel)
UNION ALL
SELECT 'function ' || CASE WHEN c.nsp = '' THEN '' ELSE c.nsp || '.' END || c.name, f.detail
  FROM called c
  JOIN pg_catalog.pg_proc p ON p.proname = c.name
  JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
  JOIN fn f ON f.oid = p.oid
 WHERE n.nspname <> 'pg_catalog'
   AND CASE WHEN c.nsp = '' THEN n.nspname IN (SELECT nsp FROM path) ELSE n.nspname = c.nsp END
UNION ALL
-- Sizes on disk. Measuring a table someone holds exclusively would wait for them: those
-- are read from the catalog's page count instead.
SELECT 'size ' || s.display,
       (CASE WHEN c.oid IN (SELECT l.relation FROM pg_catalog.pg_locks l
                             WHERE l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock'
                               AND l.granted AND l.pid <> pg_catalog.pg_backend_pid())
             THEN c.relpages::pg_catalog.int8 * pg_catalog.current_setting('block_size')::pg_catalog.int8
             ELSE pg_catalog.pg_relation_size(c.oid) END)::pg_catalog.text
       || ' ' || pg_catalog.round(c.reltuples)::pg_catalog.text
       || ' ' || c.relpages::pg_catalog.text
  FROM scope s JOIN pg_catalog.pg_class c ON c.oid = s.oid WHERE c.relkind IN ('r', 'm')
"#;

/// A table that grew by more than this factor (and past [`GROWTH_FLOOR_BYTES`]) since the
/// analysis is drift: its statements' scores depend on its size.
pub const GROWTH_FACTOR: i64 = 4;
/// Growth below this size never matters to a score.
pub const GROWTH_FLOOR_BYTES: i64 = 1024 * 1024;
/// A binding whose per-object hashes take more than this (as JSON) keeps one hash of all of
/// them instead, so the token stays small; a difference then names no object.
const MAX_EFFECTS_BYTES: usize = 12 * 1024;
/// The key of that one hash.
pub const ALL: &str = "all";

/// A table's size as [`read`] measures it: bytes on disk, and rows estimated as the planner
/// does (the analyzed row density times the pages there are now).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    pub bytes: i64,
    pub rows: i64,
}

/// What [`read`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effects {
    /// `kind object` → 16 hex digits.
    pub hashes: BTreeMap<String, String>,
    pub sizes: BTreeMap<String, Size>,
    /// `resolves name` → what the name resolves to (`absent` when nothing).
    pub resolved: BTreeMap<String, String>,
}

/// Reads the effects of `scope` (display names) and `used` through `search_path`.
pub async fn read(
    client: &impl GenericClient,
    search_path: &[String],
    scope: &[String],
    used: &UsedNames,
) -> Result<Effects, tokio_postgres::Error> {
    let (schemas, relations): (Vec<&str>, Vec<&str>) = scope
        .iter()
        .map(|n| n.split_once('.').unwrap_or(("public", n.as_str())))
        .unzip();
    let (used_schemas, used_relations): (Vec<&str>, Vec<&str>) = used
        .relations
        .iter()
        .map(|n| (n.schema.as_str(), n.name.as_str()))
        .unzip();
    let (fn_schemas, fn_names): (Vec<&str>, Vec<&str>) = used
        .functions
        .iter()
        .map(|n| (n.schema.as_str(), n.name.as_str()))
        .unzip();
    let rows = client
        .query(
            EFFECTS,
            &[
                &search_path,
                &schemas,
                &relations,
                &scope,
                &used_schemas,
                &used_relations,
                &fn_schemas,
                &fn_names,
            ],
        )
        .await?;
    let mut parts: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut out = Effects::default();
    for row in &rows {
        let key: String = row.get(0);
        let detail: String = row.get(1);
        if let Some(table) = key.strip_prefix("size ") {
            out.sizes.insert(table.to_string(), size_of(&detail));
            continue;
        }
        if key.starts_with("resolves ") {
            out.resolved.insert(key.clone(), detail.clone());
        }
        parts.entry(key).or_default().push(detail);
    }
    out.hashes = parts
        .into_iter()
        .map(|(key, mut details)| {
            details.sort();
            (key, short_hash(&details.join("\n")))
        })
        .collect();
    Ok(out)
}

/// `bytes reltuples relpages` → [`Size`].
fn size_of(detail: &str) -> Size {
    let numbers: Vec<i64> = detail.split(' ').map(|n| n.parse().unwrap_or(0)).collect();
    let [bytes, tuples, pages] = numbers[..] else {
        return Size { bytes: 0, rows: 0 };
    };
    let pages_now = bytes / 8192;
    let rows = if pages > 0 && tuples >= 0 {
        // The planner's estimate: the density ANALYZE saw, over the pages there are now.
        tuples.saturating_mul(pages_now) / pages
    } else {
        tuples.max(0)
    };
    Size { bytes, rows }
}

fn short_hash(text: &str) -> String {
    hex::encode(&Sha256::digest(text.as_bytes())[..8])
}

impl Effects {
    /// The binding an approval carries: per-object hashes (or one hash of all when they
    /// would make the token too large) and the sizes in bytes.
    pub fn binding(&self, search_path: &[String]) -> Binding {
        let mut effects = self.hashes.clone();
        if serde_json::to_string(&effects).map_or(usize::MAX, |s| s.len()) > MAX_EFFECTS_BYTES {
            effects = [(ALL.to_string(), all_hash(&self.hashes))]
                .into_iter()
                .collect();
        }
        Binding {
            search_path: search_path.to_vec(),
            effects,
            sizes: self
                .sizes
                .iter()
                .map(|(k, s)| (k.clone(), s.bytes))
                .collect(),
            // Set from the token when a request is created.
            sandboxed: false,
        }
    }

    /// What differs from `bound`, one phrase per object, for a `SCHEMA_DRIFT` message.
    pub fn changes_since(&self, bound: &Binding) -> Vec<String> {
        let mut out = Vec::new();
        if bound.effects.len() == 1 && bound.effects.contains_key(ALL) {
            if bound.effects.get(ALL) != Some(&all_hash(&self.hashes)) {
                out.push(
                    "the triggers, rules, policies, view definitions, inheritance, owners or \
                     functions of the relations it touches changed"
                        .to_string(),
                );
            }
        } else {
            let keys: std::collections::BTreeSet<&String> =
                bound.effects.keys().chain(self.hashes.keys()).collect();
            for key in keys {
                if bound.effects.get(key) != self.hashes.get(key) {
                    out.push(describe(key, self.resolved.get(key)));
                }
            }
        }
        for (table, &then) in &bound.sizes {
            let Some(now) = self.sizes.get(table) else {
                continue;
            };
            if grew(then, now.bytes) {
                out.push(format!(
                    "`{table}` grew from {} to {} on disk (now about {} rows): its statements' \
                     scores depend on its size",
                    human_bytes(then),
                    human_bytes(now.bytes),
                    now.rows
                ));
            }
        }
        out
    }
}

fn all_hash(hashes: &BTreeMap<String, String>) -> String {
    short_hash(&serde_json::to_string(hashes).unwrap_or_default())
}

/// Whether a table of `then` bytes at analysis that has `now` bytes grew enough to matter.
pub fn grew(then: i64, now: i64) -> bool {
    now > then.max(GROWTH_FLOOR_BYTES).saturating_mul(GROWTH_FACTOR)
}

fn describe(key: &str, resolved: Option<&String>) -> String {
    let (kind, object) = key.split_once(' ').unwrap_or((key, ""));
    match kind {
        "resolves" => match resolved.map(String::as_str) {
            Some("absent") | None => format!("`{object}` no longer resolves to what it did"),
            Some(now) => format!(
                "`{object}` now resolves to {}",
                now.split(" oid=").next().unwrap_or(now)
            ),
        },
        "relation" => format!("`{object}`: its owner, kind or row-level security changed"),
        "inheritance" => format!("`{object}`: its inheritance parents or children changed"),
        "triggers" => format!("`{object}`: its triggers (or the functions they run) changed"),
        "rules" => format!("`{object}`: its rules changed"),
        "policies" => format!("`{object}`: its row-level security policies changed"),
        "definition" => format!("`{object}`: its view definition changed"),
        "code" => {
            format!("`{object}`: a function its defaults, checks or index expressions call changed")
        }
        "function" => format!("function `{object}` changed, appeared or went away"),
        _ => format!("`{key}` changed"),
    }
}

fn human_bytes(bytes: i64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GB", b as f64 / f64::from(1u32 << 30)),
        b if b >= 1 << 20 => format!("{:.1} MB", b as f64 / f64::from(1u32 << 20)),
        b => format!("{} kB", b / 1024),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn effects(hashes: &[(&str, &str)], sizes: &[(&str, i64)]) -> Effects {
        Effects {
            hashes: hashes
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            sizes: sizes
                .iter()
                .map(|(k, b)| (k.to_string(), Size { bytes: *b, rows: 7 }))
                .collect(),
            resolved: BTreeMap::new(),
        }
    }

    #[test]
    fn a_table_must_grow_past_the_floor_and_the_factor() {
        assert!(!grew(8192, GROWTH_FLOOR_BYTES * GROWTH_FACTOR));
        assert!(grew(8192, GROWTH_FLOOR_BYTES * GROWTH_FACTOR + 1));
        assert!(!grew(100 << 20, 400 << 20));
        assert!(grew(100 << 20, (400 << 20) + 1));
        assert!(!grew(100 << 20, 1));
    }

    #[test]
    fn each_changed_object_is_named() {
        let then = effects(
            &[("triggers orders", "aa"), ("relation orders", "bb")],
            &[("orders", 8192)],
        )
        .binding(&["public".into()]);
        assert_eq!(then.search_path, ["public"]);
        assert_eq!(then.sizes["orders"], 8192);
        let same = effects(
            &[("triggers orders", "aa"), ("relation orders", "bb")],
            &[("orders", 9000)],
        );
        assert!(same.changes_since(&then).is_empty());
        let now = effects(
            &[("relation orders", "bb"), ("rules orders", "cc")],
            &[("orders", 50 << 20)],
        );
        let changes = now.changes_since(&then);
        assert_eq!(changes.len(), 3, "{changes:?}");
        assert!(changes[0].contains("rules changed"), "{changes:?}");
        assert!(changes[1].contains("triggers"), "{changes:?}");
        assert!(
            changes[2].contains("grew from 8 kB to 50.0 MB") && changes[2].contains("7 rows"),
            "{changes:?}"
        );
    }

    #[test]
    fn too_many_objects_are_bound_by_one_hash() {
        let many: Vec<(String, String)> = (0..1000)
            .map(|i| (format!("triggers table_{i}"), format!("{i:016x}")))
            .collect();
        let then = Effects {
            hashes: many.iter().cloned().collect(),
            ..Default::default()
        };
        let bound = then.binding(&[]);
        assert_eq!(bound.effects.len(), 1);
        assert!(then.changes_since(&bound).is_empty());
        let mut now = then.clone();
        now.hashes.insert("rules table_1".into(), "x".into());
        assert_eq!(now.changes_since(&bound).len(), 1);
    }

    #[test]
    fn every_kind_of_change_is_said_in_words() {
        let resolved: BTreeMap<String, String> = [(
            "resolves notes".to_string(),
            "app.notes oid=1 kind=r".to_string(),
        )]
        .into_iter()
        .collect();
        for (key, phrase) in [
            ("resolves notes", "`notes` now resolves to app.notes"),
            ("resolves gone", "`gone` no longer resolves to what it did"),
            (
                "relation orders",
                "`orders`: its owner, kind or row-level security",
            ),
            (
                "inheritance orders",
                "`orders`: its inheritance parents or children",
            ),
            ("triggers orders", "`orders`: its triggers"),
            ("rules orders", "`orders`: its rules changed"),
            (
                "policies orders",
                "`orders`: its row-level security policies",
            ),
            ("definition v", "`v`: its view definition changed"),
            ("code orders", "`orders`: a function its defaults, checks"),
            ("function touch", "function `touch` changed"),
            ("odd", "`odd` changed"),
        ] {
            assert!(
                describe(key, resolved.get(key)).starts_with(phrase),
                "{key}: {}",
                describe(key, resolved.get(key))
            );
        }
        assert_eq!(human_bytes(3 << 30), "3.0 GB");
        assert_eq!(human_bytes(3 << 20), "3.0 MB");
        assert_eq!(human_bytes(3 << 10), "3 kB");
    }

    #[test]
    fn one_object_bound_is_compared_as_itself() {
        let then = effects(&[("triggers orders", "aa")], &[]).binding(&[]);
        assert_eq!(then.effects.len(), 1);
        assert!(effects(&[("triggers orders", "aa")], &[])
            .changes_since(&then)
            .is_empty());
        assert_eq!(
            effects(&[("triggers orders", "ab")], &[])
                .changes_since(&then)
                .len(),
            1
        );
    }

    #[test]
    fn sizes_estimate_rows_as_the_planner_does() {
        // Never vacuumed: no density to scale, the row estimate as it is.
        assert_eq!(
            size_of("8192 5 0"),
            Size {
                bytes: 8192,
                rows: 5
            }
        );
        assert_eq!(
            size_of("819200 1000 10"),
            Size {
                bytes: 819_200,
                rows: 10_000
            }
        );
        assert_eq!(
            size_of("8192 -1 0"),
            Size {
                bytes: 8192,
                rows: 0
            }
        );
        assert_eq!(size_of("garbage"), Size { bytes: 0, rows: 0 });
    }
}
