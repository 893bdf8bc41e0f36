//! Hostile input at the edge (issue 22): property-based fuzzing of approval-token decoding
//! and verification, of every route's body parsing and of the schema diff. No case may panic, hang or answer
//! 5xx; a token verifies only if it is exactly the one signed.
//!
//! One command runs them; `PROPTEST_CASES` sets the case count of each property (default
//! 2 000, enough for CI; the closing notes record larger runs):
//!
//! ```sh
//! PROPTEST_CASES=100000 cargo test -p autodb --test fuzz
//! ```
//!
//! The seeds in `SEEDS` (inputs that once mattered, or shapes a random search rarely finds)
//! run every time, whatever the case count. Failing cases proptest finds are kept in
//! `tests/fuzz/*.proptest-regressions` and replayed first; commit them.
//!
//! Needs no PostgreSQL and no moto: the router runs over the local backend in a temp
//! directory, and no generated request can reach a database.

mod bodies;
mod diff;
mod token;

/// Cases per property: `PROPTEST_CASES`, else 2 000.
pub fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000)
}
