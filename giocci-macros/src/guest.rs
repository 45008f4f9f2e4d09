//! Compiles the module into a WebAssembly guest.
//!
//! The module's items are written into a small crate of their own with one
//! exported entry per remote function, and that crate is built with cargo for
//! `wasm32-unknown-unknown` in release mode. Each crate lives in a cache
//! directory named by a hash of everything that goes into it, so building the
//! same module again finds the artifact and runs nothing. All guests share one
//! target directory of their own, so a guest build never waits on the lock of
//! the build that runs this macro.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::{env, fs};

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use sha2::{Digest, Sha256};

use crate::model::RemoteModule;

const TARGET: &str = "wasm32-unknown-unknown";

/// Extra compiler flags of every guest: export the stack pointer global,
/// and give the stack 256 KiB instead of 1 MiB, which keeps the memory an
/// engine resets after every call small.
const GUEST_RUSTFLAGS: &str =
    r#"["-C", "link-arg=--export=__stack_pointer", "-C", "link-arg=-zstack-size=262144"]"#;

/// Changes whenever the generated crate's layout changes, so old cache
/// entries are not reused.
const LAYOUT_VERSION: &str = "2";

/// The built guest.
pub struct Artifact {
    /// The WebAssembly binary.
    pub wasm: Vec<u8>,
    /// Its SHA-256 digest.
    pub digest: [u8; 32],
    /// Whether it came from the cache, without running cargo.
    #[cfg_attr(not(test), allow(dead_code, reason = "only the tests look"))]
    pub from_cache: bool,
}

/// Builds the module's guest, or takes it from the cache.
pub fn build(model: &RemoteModule) -> syn::Result<Artifact> {
    let error = |message: String| syn::Error::new(model.name_span, message);

    let source = guest_source(model)?;
    let cache = cache_root();
    let support = write_support(&cache).map_err(&error)?;
    let giocci = format!("path = {:?}", support.display().to_string());
    let manifest_template = manifest(&model.edition, &giocci);
    let key = cache_key(&source, &manifest_template);
    let package = format!("giocci-guest-{}", &key[..16]);
    let manifest = manifest_template.replace("@PACKAGE@", &package);

    let dir = cache.join("modules").join(&key);
    let artifact_path = dir.join("module.wasm");
    if let Ok(wasm) = fs::read(&artifact_path) {
        return Ok(Artifact {
            digest: Sha256::digest(&wasm).into(),
            wasm,
            from_cache: true,
        });
    }

    fs::create_dir_all(dir.join("src"))
        .map_err(|err| error(format!("cannot create {}: {err}", dir.display())))?;
    write_atomic(&dir.join("Cargo.toml"), manifest.as_bytes()).map_err(&error)?;
    write_atomic(&dir.join("src").join("lib.rs"), source.as_bytes()).map_err(&error)?;

    let target_dir = cache.join("target");
    run_cargo(&dir, &target_dir, &model.name).map_err(&error)?;
    let built = target_dir
        .join(TARGET)
        .join("release")
        .join(format!("{}.wasm", package.replace('-', "_")));
    let wasm = fs::read(&built).map_err(|err| {
        error(format!(
            "the guest build produced no {}: {err}",
            built.display()
        ))
    })?;
    write_atomic(&artifact_path, &wasm).map_err(&error)?;
    Ok(Artifact {
        digest: Sha256::digest(&wasm).into(),
        wasm,
        from_cache: false,
    })
}

/// The guest crate's `src/lib.rs`: the module's items plus one entry per
/// remote function, inside the module so that its types resolve.
fn guest_source(model: &RemoteModule) -> syn::Result<String> {
    let ident = &model.item.ident;
    let outer = model.item.attrs.iter().filter(|attr| is_lint_or_doc(attr));
    let outer = outer.filter(|attr| matches!(attr.style, syn::AttrStyle::Outer));
    let inner = model
        .item
        .attrs
        .iter()
        .filter(|attr| !matches!(attr.style, syn::AttrStyle::Outer));
    let items = &model.items;
    let entries = model.functions.iter().map(|func| {
        let name = func.ident();
        let export = format_ident!("giocci_fn_{}", name);
        let args: Vec<_> = (0..func.params.len())
            .map(|i| format_ident!("__giocci_arg{}", i))
            .collect();
        // Byte vectors travel as `ByteBuf`, which decodes in one piece.
        let types = func.params.iter().map(|param| match param.is_bytes {
            true => quote!(::giocci::codec::ByteBuf),
            false => {
                let ty = &param.ty;
                quote!(#ty)
            }
        });
        let values = func
            .params
            .iter()
            .zip(&args)
            .map(|(param, arg)| match param.is_bytes {
                true => quote!(#arg.0),
                false => quote!(#arg),
            });
        let call = quote!(#name(#(#values),*));
        let call = match func.returns_bytes {
            true => quote!(::giocci::codec::ByteBuf(#call)),
            false => call,
        };
        quote! {
            #[doc(hidden)]
            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn #export(ptr: u32, len: u32) -> u64 {
                // SAFETY: the engine passes a buffer it got from `giocci_alloc`.
                unsafe {
                    ::giocci::guest::entry(ptr, len, |(#(#args,)*): (#(#types,)*)| #call)
                }
            }
        }
    });
    let file: TokenStream = quote! {
        //! Generated by #[giocci::remote]; rebuilt whenever the module changes.
        #![allow(dead_code, unused_imports, unused_mut, unused_variables)]

        ::giocci::guest_exports!();

        #(#outer)*
        pub mod #ident {
            #(#inner)*
            #(#items)*

            #(#entries)*
        }
    };
    let file: syn::File = syn::parse2(file)?;
    Ok(prettyplease::unparse(&file))
}

/// Outer attributes that still make sense on the guest's copy of the module.
fn is_lint_or_doc(attr: &syn::Attribute) -> bool {
    ["allow", "warn", "deny", "expect", "doc"]
        .iter()
        .any(|name| attr.path().is_ident(name))
}

fn manifest(edition: &str, giocci: &str) -> String {
    format!(
        r#"# Generated by #[giocci::remote].
[package]
name = "@PACKAGE@"
version = "0.0.0"
edition = "{edition}"
publish = false

[lib]
crate-type = ["cdylib"]
path = "src/lib.rs"

[dependencies]
giocci = {{ {giocci} }}
serde = {{ version = "1", features = ["derive"] }}

[profile.release]
opt-level = 3
lto = true
codegen-units = 1
panic = "abort"
debug = false
strip = "debuginfo"

# Not part of any enclosing workspace.
[workspace]
"#
    )
}

/// A hash of everything that decides the artifact: the source and the
/// manifest, which names the guest side of `giocci` by a directory named
/// after its own contents.
fn cache_key(source: &str, manifest: &str) -> String {
    let mut hasher = Sha256::new();
    for part in [LAYOUT_VERSION, env!("CARGO_PKG_VERSION"), source, manifest] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    hex(&hasher.finalize())
}

/// The guest side of `giocci`, compiled into this macro: its ABI, codec and
/// guest exports. Every guest depends on a copy written from these, so a
/// guest build needs neither the `giocci` sources on disk nor a registry.
const SUPPORT_FILES: [(&str, &str); 3] = [
    ("abi.rs", include_str!("../../giocci/src/abi.rs")),
    ("codec.rs", include_str!("../../giocci/src/codec.rs")),
    ("guest.rs", include_str!("../../giocci/src/guest.rs")),
];

const SUPPORT_LIB: &str = "\
//! The guest side of giocci, written by `#[giocci::remote]` for the guest
//! crates it builds.
pub mod abi;
pub mod codec;
pub mod guest;
";

fn support_manifest() -> String {
    format!(
        r#"# Generated by #[giocci::remote].
[package]
name = "giocci"
version = "{version}"
edition = "2024"
publish = false

[dependencies]
bincode = {{ version = "=2.0.1", default-features = false, features = ["std", "serde"] }}
serde = {{ version = "1", features = ["derive"] }}
thiserror = "2"

# Not part of any enclosing workspace.
[workspace]
"#,
        version = env!("CARGO_PKG_VERSION")
    )
}

/// Writes the guest side of `giocci` under `cache`, in a directory named by
/// a hash of its contents, and returns that directory.
fn write_support(cache: &Path) -> Result<PathBuf, String> {
    let manifest = support_manifest();
    let mut files = vec![
        ("Cargo.toml".to_owned(), manifest.as_str()),
        ("src/lib.rs".to_owned(), SUPPORT_LIB),
    ];
    files.extend(
        SUPPORT_FILES
            .iter()
            .map(|(name, text)| (format!("src/{name}"), *text)),
    );
    let mut hasher = Sha256::new();
    for (name, text) in &files {
        for part in [name.as_str(), text] {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part.as_bytes());
        }
    }
    let dir = cache.join("support").join(&hex(&hasher.finalize())[..32]);
    if dir.join("Cargo.toml").is_file() {
        return Ok(dir);
    }
    fs::create_dir_all(dir.join("src"))
        .map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
    // The manifest goes last: once it is there, the copy is complete.
    for (name, text) in files.iter().rev() {
        write_atomic(&dir.join(name), text.as_bytes())?;
    }
    Ok(dir)
}

/// Where guests are cached: `GIOCCI_GUEST_DIR` if set, else `giocci-guest`
/// in the target directory of the build that compiled this macro.
fn cache_root() -> PathBuf {
    if let Some(dir) = env::var_os("GIOCCI_GUEST_DIR") {
        return PathBuf::from(dir);
    }
    // OUT_DIR is <target>/<profile>/build/giocci-macros-<hash>/out.
    let out_dir = Path::new(env!("GIOCCI_MACROS_OUT_DIR"));
    let target = out_dir
        .ancestors()
        .nth(4)
        .filter(|_| out_dir.ancestors().nth(2).and_then(Path::file_name) == Some("build".as_ref()));
    match target {
        Some(target) => target.join("giocci-guest"),
        None => out_dir.join("giocci-guest"),
    }
}

/// Runs the guest build. Returns a readable message on failure.
fn run_cargo(dir: &Path, target_dir: &Path, module: &str) -> Result<(), String> {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let attempt = |offline: bool| {
        let mut command = Command::new(&cargo);
        command
            .arg("build")
            .arg("--release")
            .args(["--target", TARGET])
            .arg("--manifest-path")
            .arg(dir.join("Cargo.toml"))
            .arg("--target-dir")
            .arg(target_dir)
            .args(["--color", "never"])
            // The engine reads the guest's stack pointer after a trap to
            // tell a stack overflow from a stray memory access.
            .args([
                "--config",
                &format!("target.{TARGET}.rustflags={GUEST_RUSTFLAGS}"),
            ]);
        if offline {
            command.arg("--offline");
        }
        scrub_environment(&mut command);
        command.output()
    };

    // Resolve from crates already on this machine first; only when that
    // fails ask the registry.
    let mut output =
        attempt(true).map_err(|err| format!("cannot run cargo to build the guest: {err}"))?;
    if !output.status.success() && needs_registry(&String::from_utf8_lossy(&output.stderr)) {
        output =
            attempt(false).map_err(|err| format!("cannot run cargo to build the guest: {err}"))?;
    }
    if output.status.success() {
        return Ok(());
    }

    Err(failure_message(
        module,
        &String::from_utf8_lossy(&output.stderr),
        dir,
    ))
}

/// What to tell the user when the guest build failed with `stderr`.
fn failure_message(module: &str, stderr: &str, dir: &Path) -> String {
    if target_missing(stderr) {
        return format!(
            "cannot compile module `{module}` for the engine: the {TARGET} target is not \
             installed; install it with `rustup target add {TARGET}`"
        );
    }
    format!(
        "module `{module}` does not compile for the engine ({TARGET}); the guest crate has only \
         std, serde and giocci as dependencies. The compiler said:\n\n{}\n(guest crate: {})",
        compiler_errors(stderr),
        dir.display()
    )
}

/// Removes what the outer build set for its own compiler runs: wrappers (such
/// as clippy's), flags, the target, the target directory and the jobserver.
fn scrub_environment(command: &mut Command) {
    const KEEP: [&str; 6] = [
        "CARGO_HOME",
        "CARGO_NET_OFFLINE",
        "CARGO_HTTP_",
        "CARGO_NET_",
        "CARGO_REGISTRIES_",
        "CARGO_REGISTRY_",
    ];
    for (name, _) in env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        let cargo_var =
            name.starts_with("CARGO_") && !KEEP.iter().any(|keep| name.starts_with(keep));
        let build_var = matches!(
            name,
            "RUSTC_WRAPPER"
                | "RUSTC_WORKSPACE_WRAPPER"
                | "RUSTFLAGS"
                | "RUSTDOCFLAGS"
                | "MAKEFLAGS"
                | "MFLAGS"
                | "CARGO"
                | "OUT_DIR"
                | "__CARGO_FIX_PLZ"
                | "CLIPPY_ARGS"
                | "CLIPPY_CONF_DIR"
        );
        if cargo_var || build_var {
            command.env_remove(name);
        }
    }
}

fn needs_registry(stderr: &str) -> bool {
    stderr.contains("offline") || stderr.contains("failed to select a version")
}

fn target_missing(stderr: &str) -> bool {
    stderr.contains("target may not be installed")
        || (stderr.contains("can't find crate for `core`") && stderr.contains(TARGET))
        || stderr.contains("can't find crate for `std`")
}

/// The compiler's diagnostics without cargo's progress lines, at most 60
/// lines.
fn compiler_errors(stderr: &str) -> String {
    let mut out = String::new();
    let lines = stderr.lines().filter(|line| {
        let trimmed = line.trim_start();
        !(trimmed.starts_with("Compiling ")
            || trimmed.starts_with("Updating ")
            || trimmed.starts_with("Locking ")
            || trimmed.starts_with("Adding ")
            || trimmed.starts_with("Downloading ")
            || trimmed.starts_with("Downloaded "))
    });
    for (count, line) in lines.enumerate() {
        if count == 60 {
            out.push_str("...\n");
            break;
        }
        let _ = writeln!(out, "{line}");
    }
    out
}

/// Writes `bytes` to `path` through a temporary file of this write's own,
/// so that readers never see half a file and concurrent writers (other
/// compiler processes, or threads of this one) never share a temporary.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let write = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp-{}-{write}", std::process::id()));
    fs::write(&tmp, bytes)
        .and_then(|()| fs::rename(&tmp, path))
        .map_err(|err| format!("cannot write {}: {err}", path.display()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(tokens: TokenStream) -> RemoteModule {
        let item: syn::ItemMod = syn::parse2(tokens).unwrap();
        RemoteModule::parse(TokenStream::new(), &item).unwrap()
    }

    #[test]
    fn builds_and_caches_a_guest() {
        let model = model(quote! {
            mod cached_guest {
                pub fn answer() -> u32 { 42 }
            }
        });
        let first = build(&model).unwrap();
        assert_eq!(&first.wasm[..4], b"\0asm");
        let again = build(&model).unwrap();
        assert!(
            again.from_cache,
            "the second build must come from the cache"
        );
        assert_eq!(again.digest, first.digest);
    }

    #[test]
    fn the_guest_side_of_giocci_is_copied_from_this_crate() {
        let cache = env::temp_dir().join(format!("giocci-support-test-{}", std::process::id()));
        let dir = write_support(&cache).unwrap();
        for (name, text) in SUPPORT_FILES {
            assert_eq!(
                fs::read_to_string(dir.join("src").join(name)).unwrap(),
                text
            );
        }
        let manifest = fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        assert!(manifest.contains("name = \"giocci\""), "{manifest}");
        // The copy is named by its contents: writing it again finds it.
        assert_eq!(write_support(&cache).unwrap(), dir);
        fs::remove_dir_all(&cache).unwrap();
    }

    #[test]
    fn threads_writing_one_support_copy_do_not_collide() {
        for round in 0..20 {
            let cache = env::temp_dir().join(format!(
                "giocci-support-race-{}-{round}",
                std::process::id()
            ));
            let writers: Vec<_> = (0..4)
                .map(|_| {
                    let cache = cache.clone();
                    std::thread::spawn(move || write_support(&cache))
                })
                .collect();
            for writer in writers {
                writer.join().unwrap().unwrap();
            }
            fs::remove_dir_all(&cache).unwrap();
        }
    }

    #[test]
    fn the_support_copy_uses_the_workspace_codec() {
        // Guests must encode exactly as the host does: the copy's codec
        // dependencies are the workspace's.
        let workspace =
            fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml"))
                .unwrap();
        let manifest = support_manifest();
        for name in ["bincode", "serde", "thiserror"] {
            let line = |text: &str| {
                text.lines()
                    .find(|line| line.starts_with(&format!("{name} =")))
                    .map(|line| line.trim().to_owned())
            };
            assert_eq!(line(&manifest), line(&workspace), "{name}");
        }
    }

    #[test]
    fn guest_compiler_errors_are_passed_on() {
        let model = model(quote! {
            mod broken_guest {
                pub fn value() -> u32 { no_such_function() }
            }
        });
        let message = build(&model)
            .err()
            .expect("the guest must not compile")
            .to_string();
        assert!(
            message.starts_with(
                "module `broken_guest` does not compile for the engine (wasm32-unknown-unknown)"
            ),
            "{message}"
        );
        assert!(
            message.contains("cannot find function `no_such_function`"),
            "{message}"
        );
        assert!(!message.contains("Compiling "), "{message}");
        println!("{message}");
    }

    #[test]
    fn a_missing_target_names_the_install_command() {
        let stderr = "error[E0463]: can't find crate for `core`\n  = note: the \
                      `wasm32-unknown-unknown` target may not be installed\n";
        assert_eq!(
            failure_message("math", stderr, Path::new("/tmp/guest")),
            "cannot compile module `math` for the engine: the wasm32-unknown-unknown target is \
             not installed; install it with `rustup target add wasm32-unknown-unknown`"
        );
    }
}
