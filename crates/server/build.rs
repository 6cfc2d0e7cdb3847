//! Release builds of the `modelgate` binary on x86_64 Linux link its functions in the order of
//! `symbol-order.txt` (written by `scripts/symbol-order`): the code a server runs from start-up
//! to idle and in steady traffic sits together, so the kernel maps ~4.8 MiB of it instead of
//! ~10 MiB of 64 KiB windows scattered over the text (docs/architecture.md, "Binary layout").
//! Only the layout changes; a name the binary no longer has is skipped.
//! `MODELGATE_SYMBOL_ORDER=0` turns it off, e.g. for a linker other than the toolchain's
//! default lld.

use std::env;

fn main() {
    println!("cargo:rerun-if-changed=symbol-order.txt");
    println!("cargo:rerun-if-env-changed=MODELGATE_SYMBOL_ORDER");
    let wanted = env::var("MODELGATE_SYMBOL_ORDER").map_or(true, |v| v != "0");
    let release = env::var("PROFILE").is_ok_and(|p| p == "release");
    // rust-lld is the default linker of this target since Rust 1.90.
    let lld_target = env::var("TARGET").is_ok_and(|t| t == "x86_64-unknown-linux-gnu");
    let Ok(dir) = env::var("CARGO_MANIFEST_DIR") else {
        return;
    };
    let file = std::path::Path::new(&dir).join("symbol-order.txt");
    if wanted && release && lld_target && file.is_file() {
        println!(
            "cargo:rustc-link-arg-bin=modelgate=-Wl,--symbol-ordering-file={}",
            file.display()
        );
        println!("cargo:rustc-link-arg-bin=modelgate=-Wl,--no-warn-symbol-ordering");
    }
}
