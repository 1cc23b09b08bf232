//! The `turso-server` binary; see `turso-server --help`.
//! `turso-server healthcheck [ADDR]` probes a running server instead.

fn main() {
    let mut args = std::env::args_os();
    let code = if args.nth(1).is_some_and(|first| first == "healthcheck") {
        turso_server::healthcheck_main(args)
    } else {
        turso_server::main_impl()
    };
    std::process::exit(code);
}
