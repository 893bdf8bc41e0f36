//! Blast radius: who else feels a change to a table.
//!
//! A table referenced by foreign keys is on the write path of every table that references
//! it: inserting an order checks the customer row (a ROW SHARE lock on `customers`), so an
//! ACCESS EXCLUSIVE on `customers` stops writes to `orders`, and through it to
//! `order_items`. Views reading a table stop with it. The graph comes from the snapshot;
//! paths are shortest first (breadth-first), so each table appears once, with the path a
//! DBA would draw.

use std::cell::OnceCell;
use std::collections::{BTreeMap, HashSet, VecDeque};

use autodb_core::schema::model::Table;
use autodb_core::schema::SchemaSnapshot;

use crate::report::{AffectedTable, DependentView, Impact};

/// Reverse foreign-key edges and view dependencies of a snapshot, built on the first question
/// that has roots: most statements block no existing table, so most files never need them.
#[derive(Debug)]
pub struct Graph<'s> {
    snapshot: Option<&'s SchemaSnapshot>,
    edges: &'s GraphCache,
}

/// A snapshot's graph edges once built. A history keeps one across files and clears it when
/// a file changes foreign keys or views: rebuilding them for every file walked the whole
/// schema each time, the largest cost of a lint after parsing.
#[derive(Debug, Default, Clone)]
pub struct GraphCache(OnceCell<Edges>);

impl GraphCache {
    /// Forgets the edges: the snapshot's foreign keys or views changed.
    pub fn clear(&mut self) {
        self.0.take();
    }

    /// Brings built edges up to date after a change to the foreign keys of the table named
    /// `table` alone (it was created, replaced or altered; no other table changed): its edges
    /// are taken out and those of the tables of `snapshot` with that name put in, in snapshot
    /// order — what a rebuild would give, without walking every table's constraints. Unbuilt
    /// edges stay unbuilt.
    pub fn refresh_table(&mut self, snapshot: &SchemaSnapshot, table: &str) {
        let Some(edges) = self.0.get_mut() else {
            return;
        };
        edges.remove_from(table);
        for now in snapshot.tables.iter().filter(|t| named(t, table)) {
            edges.add_from(now);
        }
    }

    /// Builds the edges of `snapshot` if they are not built (tests: so that a change has
    /// something to update).
    #[cfg(test)]
    pub(crate) fn build(&self, snapshot: &SchemaSnapshot) {
        self.0.get_or_init(|| Edges::new(snapshot));
    }

    /// Whether the edges, if built, are those a rebuild from `snapshot` gives.
    #[cfg(test)]
    pub(crate) fn matches(&self, snapshot: &SchemaSnapshot) -> bool {
        self.0.get().is_none_or(|e| *e == Edges::new(snapshot))
    }
}

/// Whether `qualified` is `table`'s qualified name, without building it.
fn named(table: &Table, qualified: &str) -> bool {
    if table.schema == "public" {
        return table.name == qualified;
    }
    qualified
        .strip_prefix(table.schema.as_str())
        .and_then(|rest| rest.strip_prefix('.'))
        .is_some_and(|rest| rest == table.name)
}

#[derive(Debug, Default, Clone, PartialEq)]
struct Edges {
    /// table → the tables its foreign keys reference.
    references: BTreeMap<String, Vec<String>>,
    /// referenced table → tables whose foreign keys reference it.
    referenced_by: BTreeMap<String, Vec<String>>,
    /// table or view → views that read it.
    read_by: BTreeMap<String, Vec<(String, bool)>>,
}

impl Edges {
    fn new(snapshot: &SchemaSnapshot) -> Self {
        let mut edges = Self::default();
        for table in &snapshot.tables {
            edges.add_from(table);
        }
        for view in &snapshot.views {
            for source in &view.depends_on {
                edges
                    .read_by
                    .entry(source.clone())
                    .or_default()
                    .push((view.qualified_name(), view.materialized));
            }
        }
        edges
    }

    /// The edges of `table`'s foreign keys: it references each key's table, and is one of
    /// the tables referencing it (kept sorted, each once; a key on itself is no neighbour).
    fn add_from(&mut self, table: &Table) {
        let mut fks = table
            .constraints
            .iter()
            .filter_map(|c| c.references.as_ref())
            .peekable();
        // Most tables have no foreign key: their name is not even built.
        if fks.peek().is_none() {
            return;
        }
        let name = table.qualified_name();
        for fk in fks.clone() {
            if *fk == name {
                continue;
            }
            match self.referenced_by.get_mut(fk) {
                Some(children) => {
                    if let Err(at) = children.binary_search(&name) {
                        children.insert(at, name.clone());
                    }
                }
                None => {
                    self.referenced_by.insert(fk.clone(), vec![name.clone()]);
                }
            }
        }
        self.references
            .entry(name)
            .or_default()
            .extend(fks.cloned());
    }

    /// Takes out every edge [`Edges::add_from`] put in for tables named `table`.
    fn remove_from(&mut self, table: &str) {
        for fk in self.references.remove(table).unwrap_or_default() {
            if let Some(children) = self.referenced_by.get_mut(&fk) {
                if let Ok(at) = children.binary_search_by(|c| c.as_str().cmp(table)) {
                    children.remove(at);
                }
                if children.is_empty() {
                    self.referenced_by.remove(&fk);
                }
            }
        }
    }
}

impl<'s> Graph<'s> {
    /// The graph of `snapshot`, reusing (or filling) `edges`, which must be empty or have
    /// been built from this same snapshot.
    pub fn new(snapshot: Option<&'s SchemaSnapshot>, edges: &'s GraphCache) -> Self {
        Self { snapshot, edges }
    }

    /// The edges, or `None` when there is nothing to walk from (no snapshot, no roots).
    fn edges(&self, roots: &[String]) -> Option<&'s Edges> {
        let snapshot = self.snapshot.filter(|_| !roots.is_empty())?;
        Some(self.edges.0.get_or_init(|| Edges::new(snapshot)))
    }

    /// The relations one step from `table`: the tables its foreign keys reference, the
    /// tables whose foreign keys reference it, and the views that read it.
    pub fn neighbours(&self, table: &str) -> Vec<&'s String> {
        let Some(edges) = self
            .snapshot
            .map(|s| self.edges.0.get_or_init(|| Edges::new(s)))
        else {
            return Vec::new();
        };
        let listed = |map: &'s BTreeMap<String, Vec<String>>| map.get(table).into_iter().flatten();
        listed(&edges.references)
            .chain(listed(&edges.referenced_by))
            .chain(
                edges
                    .read_by
                    .get(table)
                    .into_iter()
                    .flatten()
                    .map(|(v, _)| v),
            )
            .collect()
    }

    /// Tables reached from `roots` along foreign keys, each with its path from a root.
    pub fn cascade(&self, roots: &[String]) -> Vec<(String, Vec<String>)> {
        let Some(edges) = self.edges(roots) else {
            return Vec::new();
        };
        bfs(roots, |t| {
            edges
                .referenced_by
                .get(t)
                .map(|c| c.iter().map(|n| (n.clone(), ())).collect())
                .unwrap_or_default()
        })
        .into_iter()
        .map(|(t, p, _)| (t, p))
        .collect()
    }

    /// Views reading `roots`, directly or through other views.
    pub fn views(&self, roots: &[String]) -> Vec<DependentView> {
        let Some(edges) = self.edges(roots) else {
            return Vec::new();
        };
        bfs(roots, |t| edges.read_by.get(t).cloned().unwrap_or_default())
            .into_iter()
            .map(|(view, path, materialized)| DependentView {
                view,
                materialized,
                path,
            })
            .collect()
    }

    /// How many tables and views a blocking change to `roots` reaches.
    pub fn dependents(&self, roots: &[String]) -> usize {
        self.cascade(roots).len() + self.views(roots).len()
    }
}

fn bfs<T: Clone>(
    roots: &[String],
    next: impl Fn(&str) -> Vec<(String, T)>,
) -> Vec<(String, Vec<String>, T)> {
    let mut seen: HashSet<String> = roots.iter().cloned().collect();
    let mut queue: VecDeque<Vec<String>> = roots.iter().map(|r| vec![r.clone()]).collect();
    let mut out = Vec::new();
    while let Some(path) = queue.pop_front() {
        let Some(last) = path.last() else { continue };
        for (child, extra) in next(last) {
            if seen.insert(child.clone()) {
                let mut p = path.clone();
                p.push(child.clone());
                out.push((child, p.clone(), extra));
                queue.push_back(p);
            }
        }
    }
    out
}

/// The `affected_tables` of a report: direct tables first (in order of first change), then
/// the cascade from the directly blocked ones.
pub fn affected_tables(
    graph: &Graph,
    snapshot: Option<&SchemaSnapshot>,
    direct: &[String],
    blocked: &[String],
) -> Vec<AffectedTable> {
    let rows = |t: &str| snapshot.and_then(|s| s.table(t)).map(|t| t.estimated_rows);
    let mut out: Vec<AffectedTable> = direct
        .iter()
        .map(|t| AffectedTable {
            table: t.clone(),
            impact: Impact::Direct,
            cascade_path: None,
            estimated_rows: rows(t),
        })
        .collect();
    for (table, path) in graph.cascade(blocked) {
        if !direct.contains(&table) {
            out.push(AffectedTable {
                estimated_rows: rows(&table),
                table,
                impact: Impact::Cascade,
                cascade_path: Some(path),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use autodb_core::schema::model::View;

    #[test]
    fn dependents_count_the_tables_and_the_views_reached() {
        // customers ← orders ← order_items, and one view reading customers.
        let mut snapshot = crate::catalog::cases::snapshot();
        snapshot.views.push(View {
            schema: "public".into(),
            name: "active_customers".into(),
            materialized: false,
            depends_on: vec!["customers".into()],
        });
        let cache = GraphCache::default();
        let graph = Graph::new(Some(&snapshot), &cache);
        let roots = ["customers".to_string()];
        assert_eq!(graph.cascade(&roots).len(), 2, "orders and order_items");
        assert_eq!(graph.views(&roots).len(), 1, "active_customers");
        assert_eq!(graph.dependents(&roots), 3);
        assert_eq!(graph.dependents(&["order_items".to_string()]), 0);
    }
}
