//! Signing a model: walk, hash, build the statement, sign it, write the bundle.
