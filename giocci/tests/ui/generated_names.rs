#[giocci::remote]
pub mod math {
    pub fn remote() -> u8 {
        1
    }

    pub struct Remote;
}

fn main() {}
