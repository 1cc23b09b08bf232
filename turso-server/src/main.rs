//! The `turso-server` binary; see `turso-server --help`.

fn main() {
    std::process::exit(turso_server::main_impl());
}
