#[giocci::remote(name = "has space", edition = "2015")]
pub mod math {
    pub fn one() -> u8 {
        1
    }
}

#[giocci::remote(colour = "blue")]
pub mod other {}

fn main() {}
