//! What `#[giocci::remote]` produces, checked without any network.

#[giocci::remote]
pub mod geometry {
    use serde::{Deserialize, Serialize};

    /// A rectangle.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct Rect {
        pub width: f64,
        pub height: f64,
    }

    /// The area of `rect`.
    pub fn area(rect: Rect) -> f64 {
        rect.width * rect.height
    }

    pub fn scale((rect, by): (Rect, f64)) -> Rect {
        Rect {
            width: rect.width * by,
            height: rect.height * by,
        }
    }

    pub fn nothing() {}

    fn private_helper() -> u8 {
        7
    }

    pub fn uses_helper() -> u8 {
        private_helper()
    }
}

#[giocci::remote(name = "renamed")]
mod other {
    pub fn one() -> u32 {
        1
    }
}

#[test]
fn items_stay_usable_locally() {
    let rect = geometry::Rect {
        width: 2.0,
        height: 3.0,
    };
    assert_eq!(geometry::area(rect.clone()), 6.0);
    assert_eq!(geometry::scale((rect, 2.0)).width, 4.0);
    assert_eq!(geometry::uses_helper(), 7);
    assert_eq!(other::one(), 1);
}

#[test]
fn module_is_embedded_wasm_with_its_digest() {
    let module = geometry::module();
    assert_eq!(module.name(), "geometry");
    assert_eq!(&module.wasm()[..4], b"\0asm");
    assert_eq!(module.digest(), giocci::digest(module.wasm()));
    assert_eq!(other::module().name(), "renamed");
}

#[test]
fn the_module_exports_the_abi_and_one_entry_per_pub_fn() {
    let module = geometry::module();
    let text = String::from_utf8_lossy(module.wasm());
    for export in [
        "giocci_alloc",
        "giocci_abi_version",
        "giocci_panic_message",
        "giocci_fn_area",
        "giocci_fn_scale",
        "giocci_fn_nothing",
        "giocci_fn_uses_helper",
    ] {
        assert!(text.contains(export), "missing export {export}");
    }
    assert!(!text.contains("giocci_fn_private_helper"));
}
