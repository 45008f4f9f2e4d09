#[giocci::remote]
pub mod math {
    pub fn largest<T: PartialOrd>(a: T, b: T) -> T {
        if a > b { a } else { b }
    }

    pub async fn later(a: i64) -> i64 {
        a
    }
}

fn main() {
    // The stubs still exist, so using them adds no error of its own.
    let _ = math::module;
    let _ = math::largest(1, 2);
}
