//! No library code: this crate only holds the deployment tests in `tests/`.
