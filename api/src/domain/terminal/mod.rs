//! Lumen's terminal: the safety check that comes before anything runs.

pub mod safety;
