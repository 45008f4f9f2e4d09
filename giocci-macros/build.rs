//! Tells the macro where this build's target directory is, so the guest
//! modules it compiles are cached beside the rest of the build.

fn main() {
    if let Ok(out_dir) = std::env::var("OUT_DIR") {
        println!("cargo:rustc-env=GIOCCI_MACROS_OUT_DIR={out_dir}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
