//! The dashboard's files (`web/`) are compiled into this crate: a change
//! there, a new file included, rebuilds it.

fn main() {
    println!("cargo:rerun-if-changed=../../web");
    println!("cargo:rerun-if-changed=build.rs");
}
