//! Verifying a model against a signature and a trust.
