//! Every error code autodb answers with, as types: one place that says what each code is
//! called on the wire, which HTTP status it comes with, whether trying again can help, and
//! what it means.
//!
//! Two families, because they reach the caller in two different ways:
//!
//! - [`ApiErrorCode`]: the `error.code` of an HTTP error response (the envelope built in
//!   `api::error`). Each has exactly one HTTP status: the status is read from the code, never
//!   chosen beside it.
//! - [`ExecutionErrorCode`]: the `error.code` of a *failed migration request* (the status
//!   endpoint answers 200 and the request's `error`; events and metrics carry it too). It has
//!   no HTTP status, and it is stored with the request, so it must read back whatever wrote
//!   it: a code this version does not know (a row written by a newer version during a
//!   rolling deploy) is kept as [`ExecutionErrorCode::Other`] and shown as it was stored.
//!
//! `SQL_PARSE_ERROR` and `MIGRATION_REFUSED` exist in both: analyze refuses such SQL with the
//! API code, and the executor, which checks again before sending anything, fails a request
//! with the execution code.
//!
//! *Retryable* means: the same thing sent again unchanged may succeed later — the same HTTP
//! request for an API code; for an execution code, the same SQL analyzed, approved and executed
//! again without changing it, the database or the policy (the cause was a passing condition).
//!
//! The README ("Error codes") and `docs/openapi.yaml` list exactly these codes; a test
//! (`documented`) checks both directions. This module imports nothing else of autodb (not
//! even the rest of `domain`), so every layer may use it.

mod api;
mod execution;

pub use api::ApiErrorCode;
pub use execution::{ExecutionErrorCode, UnknownCode};

/// What one code is: its wire string, whether retrying can help, and one line of meaning.
struct Spec {
    code: &'static str,
    retryable: bool,
    description: &'static str,
}

const fn spec(code: &'static str, retryable: bool, description: &'static str) -> Spec {
    Spec {
        code,
        retryable,
        description,
    }
}

#[cfg(test)]
mod documented;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_strings_are_unique_screaming_snake_case() {
        let api: Vec<&str> = ApiErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        let execution: Vec<&str> = ExecutionErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        for codes in [&api, &execution] {
            let mut unique = codes.to_vec();
            unique.sort_unstable();
            unique.dedup();
            assert_eq!(
                unique.len(),
                codes.len(),
                "a code is listed twice: {codes:?}"
            );
            for code in codes {
                assert!(
                    code.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'),
                    "{code}"
                );
            }
        }
    }
}
