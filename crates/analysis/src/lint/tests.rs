//! Tests of the lint report and exit codes.
