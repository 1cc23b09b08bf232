//! The `host-harness` binary.

fn main() {
    std::process::exit(host_harness::main_impl());
}
