# Sourced by the other scripts: makes sure the toolchain can build modules.
# `#[giocci::remote]` compiles modules for wasm32-unknown-unknown, so that
# target's standard library must be installed.

giocci_ensure_wasm_target() {
  local target=wasm32-unknown-unknown
  local libdir
  libdir=$(rustc --print target-libdir --target "$target" 2>/dev/null || true)
  if [ -n "$libdir" ] && ls "$libdir"/libcore-*.rlib >/dev/null 2>&1; then
    return 0
  fi
  if command -v rustup >/dev/null 2>&1; then
    echo "Installing the $target target (one time)..."
    rustup target add "$target"
  else
    echo "The $target target is missing and rustup is not available to install it." >&2
    echo "Install the Rust standard library for $target, then run this again." >&2
    return 1
  fi
}
