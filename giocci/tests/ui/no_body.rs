#[giocci::remote]
pub mod math;

fn main() {}
