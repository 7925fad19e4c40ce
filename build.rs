//! How the `headroom` executable is linked on Linux. Only the binaries, not the tests.
//!
//! 1. Position-dependent (non-PIE). `headroom check ...` is a short-lived process that Nagios
//!    starts for every check, so what the process pays before its first byte counts. A PIE
//!    build of headroom carries some 67,000 relative relocations (vtables and other pointers in
//!    `.data.rel.ro`, about 1 MB): the dynamic loader applies every one of them at start-up
//!    (half the instructions of a whole `check memcached` run, measured with
//!    `valgrind --tool=callgrind` and glibc's `LD_DEBUG=statistics`) and each written page is a
//!    copy-on-write fault (584 minor faults against 244 for `check_tcp`). Linked at a fixed
//!    address the linker resolves them itself and none is left for run time. The price: the
//!    executable's own code and data are not randomised (ASLR still places the stack, the
//!    heap, mmap areas and the shared libraries); docs/benchmarks.md has the figures.
//!
//! 2. Its functions in the order of `link/symbol-order.txt` (lld's `--symbol-ordering-file`),
//!    for optimised builds linked by lld, the default linker of x86_64-unknown-linux-gnu since
//!    Rust 1.90 ("Faster linking times with 1.90.0 stable on Linux using the LLD linker",
//!    blog.rust-lang.org, 2025-09-01). Linux maps an executable's code 64 KiB around each
//!    page a process touches, and counts all of it in the resident size: the daemon runs
//!    2.7 MB of a 25 MB `.text`, spread over 180 such stretches when laid out by crate, and
//!    had 12.2 MiB of `.text` resident; with the functions it runs together, 5.2 MiB.
//!    `scripts/symbol-order` writes the file from profiles of the checks and the daemon; a
//!    function it does not name is only placed after those it does, so a stale file costs
//!    memory, never correctness (docs/performance.md).

use std::env;
use std::path::Path;

const ORDER: &str = "link/symbol-order.txt";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={ORDER}");
    if env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    // Another linker (`target.<triple>.linker`, `-C linker=`, `-C linker-features=-lld`)
    // may not know the option: then the default layout.
    let default_linker = env::var_os("RUSTC_LINKER").is_none()
        && !env::var("CARGO_ENCODED_RUSTFLAGS").is_ok_and(|f| sets_linking(&f));
    let optimised = env::var("OPT_LEVEL").is_ok_and(|o| o != "0");
    let lld_by_default = env::var("TARGET").as_deref() == Ok("x86_64-unknown-linux-gnu");
    let order = Path::new(&env::var("CARGO_MANIFEST_DIR").unwrap_or_default()).join(ORDER);
    if default_linker && optimised && lld_by_default && order.is_file() {
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            order.display()
        );
        // Functions of another build (hashes of generic instances, LTO's local names) are
        // expected to be missing; lld would warn for each.
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
}

/// Whether rustc's flags (`CARGO_ENCODED_RUSTFLAGS`: separated by 0x1f) set a codegen option
/// of linking: `-C linker=`, `-C link-arg=`, `-C link-args=`, `-C linker-features=`,
/// `-C linker-flavor=`, `-C link-self-contained=`, ... (the rustc book, "Codegen Options"),
/// in any of rustc's spellings. Not any flag that says "link": `-C profile-use=link/...`, set
/// in .cargo/config.toml, is not one.
fn sets_linking(encoded: &str) -> bool {
    let mut flags = encoded.split('\x1f');
    while let Some(flag) = flags.next() {
        let option = match flag {
            "-C" | "--codegen" => flags.next().unwrap_or_default(),
            _ => match flag
                .strip_prefix("--codegen=")
                .or_else(|| flag.strip_prefix("-C"))
            {
                Some(option) => option,
                None => continue,
            },
        };
        if option.starts_with("link") {
            return true;
        }
    }
    false
}
