//! Dependency order for the objects a clone creates before its tables are complete.
//!
//! Like pg_dump, the clone sorts by kind first (types before functions before sequences
//! before tables before views) and lets `pg_depend` override that where it must: a view on a
//! view, a function returning `SETOF customer` after `customer`, a table whose column has a
//! domain type after the domain. Kahn's algorithm, always taking the ready object that comes
//! first by (kind, position), so the order is deterministic. A cycle (which PostgreSQL
//! itself cannot create among these kinds, but a hand-edited snapshot could) is broken at
//! its first object rather than dropping anything.

use std::collections::{BTreeMap, BTreeSet, HashMap};

/// One object to create: its key (see `object_key`), its kind's rank and its statements.
pub struct Node {
    pub key: String,
    pub rank: u8,
    pub statements: Vec<String>,
}

/// `nodes` in an order where everything an object depends on (among `nodes`) comes first.
pub fn sorted(nodes: Vec<Node>, dependencies: &BTreeMap<String, Vec<String>>) -> Vec<Node> {
    let index: HashMap<&str, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.key.as_str(), i))
        .collect();
    let mut waiting_on = vec![0usize; nodes.len()];
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for (i, node) in nodes.iter().enumerate() {
        let required: BTreeSet<usize> = dependencies
            .get(&node.key)
            .into_iter()
            .flatten()
            .filter_map(|k| index.get(k.as_str()).copied())
            .filter(|&j| j != i)
            .collect();
        waiting_on[i] = required.len();
        for j in required {
            dependents[j].push(i);
        }
    }
    let mut ready: BTreeSet<(u8, usize)> = (0..nodes.len())
        .filter(|&i| waiting_on[i] == 0)
        .map(|i| (nodes[i].rank, i))
        .collect();
    let mut done = vec![false; nodes.len()];
    let mut order = Vec::with_capacity(nodes.len());
    while order.len() < nodes.len() {
        let next = match ready.pop_first() {
            Some((_, i)) => i,
            // A cycle: take the first object still waiting.
            None => (0..nodes.len())
                .filter(|&i| !done[i])
                .min_by_key(|&i| (nodes[i].rank, i))
                .expect("fewer objects ordered than exist"),
        };
        if done[next] {
            continue;
        }
        done[next] = true;
        order.push(next);
        for &d in &dependents[next] {
            waiting_on[d] = waiting_on[d].saturating_sub(1);
            if waiting_on[d] == 0 && !done[d] {
                ready.insert((nodes[d].rank, d));
            }
        }
    }
    let mut slots: Vec<Option<Node>> = nodes.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(key: &str, rank: u8) -> Node {
        Node {
            key: key.into(),
            rank,
            statements: vec![key.into()],
        }
    }

    fn keys(nodes: &[Node]) -> Vec<&str> {
        nodes.iter().map(|n| n.key.as_str()).collect()
    }

    #[test]
    fn kinds_come_in_rank_order_when_nothing_depends() {
        let out = sorted(
            vec![node("v", 3), node("t", 2), node("f", 1)],
            &BTreeMap::new(),
        );
        assert_eq!(keys(&out), ["f", "t", "v"]);
    }

    #[test]
    fn dependencies_override_rank() {
        // A function returning SETOF a table comes after the table; a view on a view after it.
        let deps = BTreeMap::from([
            ("f()".to_string(), vec!["t".to_string()]),
            ("a_view".to_string(), vec!["b_view".to_string()]),
        ]);
        let out = sorted(
            vec![
                node("a_view", 3),
                node("b_view", 3),
                node("f()", 1),
                node("t", 2),
            ],
            &deps,
        );
        assert_eq!(keys(&out), ["t", "f()", "b_view", "a_view"]);
    }

    #[test]
    fn unknown_dependencies_are_ignored_and_cycles_keep_every_object() {
        let deps = BTreeMap::from([
            (
                "a".to_string(),
                vec!["b".to_string(), "pg_catalog.x".to_string()],
            ),
            ("b".to_string(), vec!["a".to_string()]),
        ]);
        let out = sorted(vec![node("a", 1), node("b", 1), node("c", 0)], &deps);
        assert_eq!(keys(&out), ["c", "a", "b"]);
    }
}
