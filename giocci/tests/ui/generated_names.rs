#[giocci::remote]
pub mod math {
    pub fn remote() -> u8 {
        1
    }

    pub struct Remote;
}

#[giocci::remote]
pub mod stubs {
    pub fn add(a: i64, b: i64) -> i64 {
        a + b
    }

    pub fn add_async(a: i64, b: i64) -> i64 {
        a + b
    }

    pub fn with_timeout() {}
}

fn main() {}
