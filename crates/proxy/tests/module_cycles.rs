//! No module of the gateway imports one that imports it back (the check is
//! the policy crate's, run over this crate's sources).

#[path = "../../policy/tests/module_cycles.rs"]
mod module_cycles;
