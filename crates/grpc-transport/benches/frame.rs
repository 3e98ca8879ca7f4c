//! Placeholder until the frame benchmarks land.
fn main() {}
