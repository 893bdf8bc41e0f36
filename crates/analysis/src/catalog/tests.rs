//! Tests of the lock catalog: one case per statement form.
