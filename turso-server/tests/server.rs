//! Integration tests of turso-server: a real in-process server on
//! 127.0.0.1 port 0, real `tursodb` children, real sync clients.
//!
//! One test binary (ripgrep's layout): this file is the root, each other
//! file in `tests/` is one behaviour.

mod support;

mod admin;
mod atomic;
mod auth;
mod backup;
mod bypass;
mod gc;
mod hardening;
mod index_method;
mod lifecycle;
mod listeners;
mod logs;
mod namespaces;
mod orphans;
mod provisioning;
mod proxy;
mod scale;
mod settings;
mod validation;

/// Not a behaviour test on its own: when `TURSO_SERVER_TEST_ARGS` is set,
/// this test process *is* the `turso-server` binary (see
/// `support::server_command`), so tests that signal or kill the binary run
/// the code of this very build even when a parallel build in the shared
/// target directory replaces `target/debug/turso-server`. Without the
/// variable it checks that a bad command line exits with the usage code.
#[test]
fn run_as_server_binary() {
    if let Some(args) = std::env::var_os("TURSO_SERVER_TEST_ARGS") {
        // End the harness's "test run_as_server_binary ... " line, so the
        // server's stdout starts on a line of its own.
        println!();
        // Die with the test that started us, even if it panics before
        // stopping us (its children die with us in turn).
        // SAFETY: prctl on our own process.
        unsafe {
            libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            );
        }
        let args = args.to_string_lossy().into_owned();
        let argv = std::iter::once("turso-server".to_owned()).chain(
            args.split('\u{1f}')
                .filter(|a| !a.is_empty())
                .map(str::to_owned),
        );
        std::process::exit(turso_server::main_with_args(argv));
    }
    assert_eq!(
        turso_server::main_with_args(["turso-server", "--no-such-flag"]),
        turso_server::exit::USAGE
    );
}
