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
}

#[derive(Debug, Default, Clone)]
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
            let mut fks = table
                .constraints
                .iter()
                .filter_map(|c| c.references.as_ref())
                .peekable();
            // Most tables have no foreign key: their name is not even built.
            if fks.peek().is_none() {
                continue;
            }
            let name = table.qualified_name();
            for fk in fks {
                edges
                    .references
                    .entry(name.clone())
                    .or_default()
                    .push(fk.clone());
                if *fk != name {
                    let children = edges.referenced_by.entry(fk.clone()).or_default();
                    if !children.contains(&name) {
                        children.push(name.clone());
                    }
                }
            }
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
        for list in edges.referenced_by.values_mut() {
            list.sort();
        }
        edges
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
