const LIMIT: u32 = 10;

#[giocci::remote]
pub mod limits {
    use super::LIMIT;

    pub fn clamp(value: u32) -> u32 {
        value.min(crate::LIMIT).min(LIMIT)
    }
}

fn main() {}
