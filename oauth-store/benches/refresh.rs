//! placeholder until the refresh bench lands
fn main() {}
