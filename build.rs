//! Link the `headroom` executable as a position-dependent (non-PIE) executable on Linux.
//!
//! `headroom check ...` is a short-lived process that Nagios starts for every check, so what
//! the process pays before its first byte counts. A PIE build of headroom carries some 67,000
//! relative relocations (vtables and other pointers in `.data.rel.ro`, about 1 MB): the
//! dynamic loader applies every one of them at start-up (half the instructions of a whole
//! `check memcached` run, measured with `valgrind --tool=callgrind` and glibc's
//! `LD_DEBUG=statistics`) and each written page is a copy-on-write fault (584 minor faults
//! against 244 for `check_tcp`). Linked at a fixed address the linker resolves them itself and
//! none is left for run time. The price: the executable's own code and data are not
//! randomised (ASLR still places the stack, the heap, mmap areas and the shared libraries);
//! docs/benchmarks.md has the figures. Only the binaries are linked so, not the tests.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
