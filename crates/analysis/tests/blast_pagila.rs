//! Blast radius on a real foreign-key graph: the Pagila schema.

mod common;

use autodb_analysis::{analyze, Impact};

fn analysis(sql: &str) -> autodb_analysis::Analysis {
    let snap = common::pagila();
    analyze(&autodb_core::sql::parse(sql).unwrap(), Some(&snap))
}

fn path(a: &autodb_analysis::Analysis, table: &str) -> Option<Vec<String>> {
    a.affected_tables
        .iter()
        .find(|t| t.table == table)
        .and_then(|t| t.cascade_path.clone())
}

#[test]
fn the_snapshot_has_pagilas_tables_keys_and_views() {
    let snap = common::pagila();
    assert!(snap.tables.len() >= 21, "{}", snap.tables.len());
    let rental = snap.table("rental").unwrap();
    let refs: Vec<_> = rental
        .constraints
        .iter()
        .filter_map(|c| c.references.clone())
        .collect();
    assert_eq!(refs, vec!["customer", "inventory", "staff"]);
    let view = snap
        .views
        .iter()
        .find(|v| v.name == "customer_list")
        .unwrap();
    assert_eq!(
        view.depends_on,
        vec!["address", "city", "country", "customer"]
    );
}

#[test]
fn altering_country_cascades_down_the_address_chain() {
    let a = analysis("ALTER TABLE country ADD COLUMN iso_code text NOT NULL DEFAULT 'XX'");
    let direct = &a.affected_tables[0];
    assert_eq!(
        (direct.table.as_str(), direct.impact),
        ("country", Impact::Direct)
    );
    assert_eq!(direct.estimated_rows, Some(109));
    let p = |t: &str| path(&a, t).unwrap_or_else(|| panic!("{t} not reached"));
    assert_eq!(p("city"), ["country", "city"]);
    assert_eq!(p("address"), ["country", "city", "address"]);
    assert_eq!(p("customer"), ["country", "city", "address", "customer"]);
    assert_eq!(
        p("rental"),
        ["country", "city", "address", "customer", "rental"]
    );
    assert_eq!(
        p("payment_p2022_01"),
        ["country", "city", "address", "customer", "payment_p2022_01"]
    );
    assert!(a
        .affected_tables
        .iter()
        .all(|t| t.impact == Impact::Cascade || t.table == "country"));
    // Each table once.
    let mut names: Vec<_> = a.affected_tables.iter().map(|t| &t.table).collect();
    names.dedup();
    assert_eq!(names.len(), a.affected_tables.len());
    // Tables that do not reference the chain are not affected.
    assert!(path(&a, "actor").is_none() && path(&a, "film").is_none());
}

#[test]
fn views_over_a_changed_table_are_listed() {
    let a = analysis("ALTER TABLE city RENAME COLUMN city TO name");
    let views: Vec<&str> = a.dependent_views.iter().map(|v| v.view.as_str()).collect();
    for v in ["customer_list", "staff_list"] {
        assert!(views.contains(&v), "{v} missing from {views:?}");
    }
    assert!(!views.contains(&"film_list"));
    let mv = analysis("ALTER TABLE category ADD COLUMN slug text");
    let rental_by_category = mv
        .dependent_views
        .iter()
        .find(|v| v.view == "rental_by_category")
        .unwrap();
    assert!(rental_by_category.materialized);
    assert_eq!(rental_by_category.path, ["category", "rental_by_category"]);
}

#[test]
fn a_non_blocking_change_has_no_cascade() {
    let a = analysis("CREATE INDEX CONCURRENTLY customer_email_idx ON customer (email)");
    assert_eq!(a.affected_tables.len(), 1);
    assert_eq!(a.affected_tables[0].impact, Impact::Direct);
}

#[test]
fn blast_radius_raises_the_score_of_a_blocking_change() {
    // Same lock, same size class: a hub table scores above a leaf table.
    let hub = analysis("ALTER TABLE country ADD COLUMN a text");
    let leaf = analysis("ALTER TABLE payment_p2022_01 ADD COLUMN a text");
    assert!(leaf.affected_tables.len() == 1 && leaf.dependent_views.is_empty());
    assert!(
        hub.risk_score > leaf.risk_score,
        "{} vs {}",
        hub.risk_score,
        leaf.risk_score
    );
}
