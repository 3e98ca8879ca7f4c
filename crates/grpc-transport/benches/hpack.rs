//! Placeholder until the hpack benchmarks land.
fn main() {}
