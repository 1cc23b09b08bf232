//! Launching workers: child processes that get their Turso settings from
//! the host's environment, the way the runtime forwards them to its pool.
//!
//! A worker has no plugin context; it opens its own namespaced database
//! with `turso_worker::open_turso`, which reads `RUNTIME_TURSO_*`. The host
//! derives those from its own settings ([`worker_env`], a pure function):
//!
//! | Worker variable              | First match wins                                                                 |
//! |------------------------------|----------------------------------------------------------------------------------|
//! | `RUNTIME_TURSO_SERVER_URL`   | host `RUNTIME_TURSO_SERVER_URL`, host `TURSO_SERVER_URL`, unset (local mode)     |
//! | `RUNTIME_TURSO_SERVER_TOKEN` | host `RUNTIME_TURSO_SERVER_TOKEN`, host `TURSO_SERVER_TOKEN`*, unset              |
//! | `RUNTIME_TURSO_DIR`          | [`WorkerLauncher::turso_dir`], host `RUNTIME_TURSO_DIR`, `<dir of TURSO_LOCAL_PATH>/workers`, `./data/turso/workers` |
//! | `RUNTIME_TURSO_EXPERIMENTAL_INDEX_METHOD` | host `RUNTIME_TURSO_EXPERIMENTAL_INDEX_METHOD`, host `TURSO_EXPERIMENTAL_INDEX_METHOD`, unset (off) |
//!
//! Values are trimmed and blank means unset. \* The host's
//! `TURSO_SERVER_TOKEN` only goes with the host's `TURSO_SERVER_URL`: a
//! worker pointed at another server by an explicit
//! `RUNTIME_TURSO_SERVER_URL` never receives the host's token. No server
//! URL means no token at all.
//!
//! [`WorkerLauncher`] starts the child: it inherits the host environment
//! **minus** every `TURSO_*` and `RUNTIME_TURSO_*` variable (so plugin and
//! admin settings never reach workers), plus the derived variables, plus
//! any [`WorkerLauncher::env`] set by the caller (those win). A relative
//! `RUNTIME_TURSO_DIR` is made absolute against the host's working
//! directory, so a worker started elsewhere still finds its files.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use host_harness::worker::WorkerLauncher;
//!
//! let mut launcher = WorkerLauncher::new("./target/debug/turso-worker-demo");
//! launcher.args(["tenants", "SELECT 1"]);
//! let output = launcher.command().output().await?;
//! println!("{}", String::from_utf8_lossy(&output.stdout));
//! # Ok(())
//! # }
//! ```

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};

/// The variable names and plugin-turso's default local path, named once
/// in turso-common.
pub use turso_common::env::{
    DEFAULT_LOCAL_PATH, RUNTIME_TURSO_DIR, RUNTIME_TURSO_EXPERIMENTAL_INDEX_METHOD,
    RUNTIME_TURSO_SERVER_TOKEN, RUNTIME_TURSO_SERVER_URL, TURSO_EXPERIMENTAL_INDEX_METHOD,
    TURSO_LOCAL_PATH, TURSO_SERVER_TOKEN, TURSO_SERVER_URL,
};
/// The subdirectory, beside the host's database, that holds worker files.
pub const WORKERS_SUBDIR: &str = "workers";

/// Trimmed, or `None` when blank.
fn clean(value: Option<String>) -> Option<String> {
    let value = value?;
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_owned())
}

/// The worker's `RUNTIME_TURSO_*` variables, derived from the host's
/// environment (`host_env`, e.g. `|k| std::env::var(k).ok()`) and the
/// launcher's directory setting. See the module docs for the order.
///
/// Always contains `RUNTIME_TURSO_DIR`; `RUNTIME_TURSO_SERVER_URL` only when
/// a server is configured, and `RUNTIME_TURSO_SERVER_TOKEN` only with it;
/// `RUNTIME_TURSO_EXPERIMENTAL_INDEX_METHOD` when the host sets it.
/// Pure: reads nothing but `host_env`. The directory is returned as
/// derived (possibly relative).
///
/// ```
/// use host_harness::worker::worker_env;
///
/// let host = |k: &str| match k {
///     "TURSO_SERVER_URL" => Some("http://turso:8080".to_owned()),
///     "TURSO_LOCAL_PATH" => Some("/data/turso/runtime.db".to_owned()),
///     _ => None,
/// };
/// let env = worker_env(host, None);
/// assert!(env.contains(&("RUNTIME_TURSO_SERVER_URL".into(), "http://turso:8080".into())));
/// assert!(env.contains(&("RUNTIME_TURSO_DIR".into(), "/data/turso/workers".into())));
/// ```
pub fn worker_env(
    host_env: impl Fn(&str) -> Option<String>,
    turso_dir: Option<&Path>,
) -> Vec<(String, String)> {
    let var = |name: &str| clean(host_env(name));
    let mut out = Vec::with_capacity(4);

    let dir = turso_dir
        .filter(|d| !d.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .or_else(|| var(RUNTIME_TURSO_DIR).map(PathBuf::from))
        .unwrap_or_else(|| default_worker_dir(var(TURSO_LOCAL_PATH).as_deref()));
    out.push((
        RUNTIME_TURSO_DIR.to_owned(),
        dir.to_string_lossy().into_owned(),
    ));

    let explicit_url = var(RUNTIME_TURSO_SERVER_URL);
    let explicit_token = var(RUNTIME_TURSO_SERVER_TOKEN);
    let (url, token) = match explicit_url {
        Some(url) => (Some(url), explicit_token),
        None => match var(TURSO_SERVER_URL) {
            Some(url) => (
                Some(url),
                explicit_token.or_else(|| var(TURSO_SERVER_TOKEN)),
            ),
            None => (None, None),
        },
    };
    if let Some(url) = url {
        let url = url.trim_end_matches('/').to_owned();
        out.push((RUNTIME_TURSO_SERVER_URL.to_owned(), url));
        if let Some(token) = token {
            out.push((RUNTIME_TURSO_SERVER_TOKEN.to_owned(), token));
        }
    }
    let index_method = var(RUNTIME_TURSO_EXPERIMENTAL_INDEX_METHOD)
        .or_else(|| var(TURSO_EXPERIMENTAL_INDEX_METHOD));
    if let Some(index_method) = index_method {
        out.push((
            RUNTIME_TURSO_EXPERIMENTAL_INDEX_METHOD.to_owned(),
            index_method,
        ));
    }
    out
}

/// `<dir of local_path>/workers`, with `./data/turso/runtime.db` standing
/// in when `local_path` is unset, `:memory:` or a URL.
fn default_worker_dir(local_path: Option<&str>) -> PathBuf {
    let local = local_path
        .filter(|p| *p != ":memory:" && !p.contains("://"))
        .unwrap_or(DEFAULT_LOCAL_PATH);
    let parent = match Path::new(local).parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    parent.join(WORKERS_SUBDIR)
}

/// Whether a host variable is a Turso setting the worker must not inherit.
fn is_turso_var(name: &OsStr) -> bool {
    name.to_str()
        .is_some_and(|n| n.starts_with("TURSO_") || n.starts_with("RUNTIME_TURSO_"))
}

/// Starts worker processes with Turso settings derived from the host's
/// environment (see the module docs).
///
/// Setters follow `std::process::Command`: `&mut self -> &mut Self`.
/// `Debug` shows variable names, never their values.
#[derive(Clone)]
pub struct WorkerLauncher {
    program: PathBuf,
    args: Vec<OsString>,
    turso_dir: Option<PathBuf>,
    envs: Vec<(OsString, OsString)>,
    current_dir: Option<PathBuf>,
}

impl fmt::Debug for WorkerLauncher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let env_names: Vec<_> = self.envs.iter().map(|(k, _)| k).collect();
        f.debug_struct("WorkerLauncher")
            .field("program", &self.program)
            .field("args", &self.args)
            .field("turso_dir", &self.turso_dir)
            .field("env_names", &env_names)
            .field("current_dir", &self.current_dir)
            .finish()
    }
}

impl WorkerLauncher {
    /// A launcher for `program`, with no arguments, the directory derived
    /// from the environment and no extra variables.
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Self {
            program: program.into(),
            args: Vec::new(),
            turso_dir: None,
            envs: Vec::new(),
            current_dir: None,
        }
    }

    /// Adds one argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Sets the worker's `RUNTIME_TURSO_DIR`, winning over the host's
    /// `RUNTIME_TURSO_DIR` and the derived default.
    pub fn turso_dir(&mut self, dir: impl Into<PathBuf>) -> &mut Self {
        self.turso_dir = Some(dir.into());
        self
    }

    /// Sets one variable for the worker; it wins over derived ones.
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Self {
        self.envs
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// Sets the worker's working directory (default: the host's).
    pub fn current_dir(&mut self, dir: impl Into<PathBuf>) -> &mut Self {
        self.current_dir = Some(dir.into());
        self
    }

    /// The `RUNTIME_TURSO_*` variables a worker started now would get, from
    /// the process environment, with a relative directory made absolute
    /// against the host's working directory.
    pub fn turso_env(&self) -> Vec<(String, String)> {
        let mut env = worker_env(|k| std::env::var(k).ok(), self.turso_dir.as_deref());
        for (key, value) in &mut env {
            if key == RUNTIME_TURSO_DIR && Path::new(value).is_relative() {
                if let Ok(cwd) = std::env::current_dir() {
                    *value = cwd.join(&*value).to_string_lossy().into_owned();
                }
            }
        }
        env
    }

    /// The command for one worker: host environment without `TURSO_*` /
    /// `RUNTIME_TURSO_*`, then [`WorkerLauncher::turso_env`], then the
    /// caller's variables. The child is killed if its handle is dropped.
    /// Stdio is left to the caller.
    pub fn command(&self) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(&self.program);
        cmd.args(&self.args).kill_on_drop(true);
        for (name, _) in std::env::vars_os() {
            if is_turso_var(&name) {
                cmd.env_remove(name);
            }
        }
        let turso_env = self.turso_env();
        tracing::debug!(
            program = %self.program.display(),
            sync = turso_env.iter().any(|(k, _)| k == RUNTIME_TURSO_SERVER_URL),
            "starting worker"
        );
        cmd.envs(turso_env);
        cmd.envs(self.envs.iter().map(|(k, v)| (k, v)));
        if let Some(dir) = &self.current_dir {
            cmd.current_dir(dir);
        }
        cmd
    }

    /// Starts one worker with [`WorkerLauncher::command`].
    ///
    /// # Errors
    ///
    /// The OS error when the program cannot be started.
    pub fn spawn(&self) -> std::io::Result<tokio::process::Child> {
        self.command().spawn()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn host(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn get<'a>(env: &'a [(String, String)], key: &str) -> Option<&'a str> {
        env.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    #[test]
    fn the_index_method_setting_reaches_workers_and_an_explicit_one_wins() {
        let env = worker_env(host(&[("TURSO_EXPERIMENTAL_INDEX_METHOD", "1")]), None);
        assert_eq!(
            get(&env, RUNTIME_TURSO_EXPERIMENTAL_INDEX_METHOD),
            Some("1")
        );
        let env = worker_env(
            host(&[
                ("TURSO_EXPERIMENTAL_INDEX_METHOD", "1"),
                ("RUNTIME_TURSO_EXPERIMENTAL_INDEX_METHOD", "0"),
            ]),
            None,
        );
        assert_eq!(
            get(&env, RUNTIME_TURSO_EXPERIMENTAL_INDEX_METHOD),
            Some("0")
        );
        let env = worker_env(host(&[]), None);
        assert_eq!(get(&env, RUNTIME_TURSO_EXPERIMENTAL_INDEX_METHOD), None);
    }

    #[test]
    fn host_server_settings_become_the_worker_settings() {
        let env = worker_env(
            host(&[
                ("TURSO_SERVER_URL", "http://turso:8080/"),
                ("TURSO_SERVER_TOKEN", "host-token"),
            ]),
            None,
        );
        assert_eq!(
            get(&env, RUNTIME_TURSO_SERVER_URL),
            Some("http://turso:8080")
        );
        assert_eq!(get(&env, RUNTIME_TURSO_SERVER_TOKEN), Some("host-token"));
        assert_eq!(get(&env, RUNTIME_TURSO_DIR), Some("./data/turso/workers"));
    }

    #[test]
    fn explicit_runtime_settings_win_over_derived_ones() {
        let env = worker_env(
            host(&[
                ("TURSO_SERVER_URL", "http://host:1"),
                ("TURSO_SERVER_TOKEN", "host-token"),
                ("RUNTIME_TURSO_SERVER_URL", "http://worker:2"),
                ("RUNTIME_TURSO_SERVER_TOKEN", "worker-token"),
                ("RUNTIME_TURSO_DIR", "/explicit/dir"),
            ]),
            None,
        );
        assert_eq!(get(&env, RUNTIME_TURSO_SERVER_URL), Some("http://worker:2"));
        assert_eq!(get(&env, RUNTIME_TURSO_SERVER_TOKEN), Some("worker-token"));
        assert_eq!(get(&env, RUNTIME_TURSO_DIR), Some("/explicit/dir"));
    }

    #[test]
    fn an_explicit_token_goes_with_the_derived_url() {
        let env = worker_env(
            host(&[
                ("TURSO_SERVER_URL", "http://host:1"),
                ("TURSO_SERVER_TOKEN", "host-token"),
                ("RUNTIME_TURSO_SERVER_TOKEN", "worker-token"),
            ]),
            None,
        );
        assert_eq!(get(&env, RUNTIME_TURSO_SERVER_URL), Some("http://host:1"));
        assert_eq!(get(&env, RUNTIME_TURSO_SERVER_TOKEN), Some("worker-token"));
    }

    #[test]
    fn an_explicit_url_never_receives_the_host_token() {
        let env = worker_env(
            host(&[
                ("TURSO_SERVER_URL", "http://host:1"),
                ("TURSO_SERVER_TOKEN", "host-token"),
                ("RUNTIME_TURSO_SERVER_URL", "http://elsewhere:2"),
            ]),
            None,
        );
        assert_eq!(
            get(&env, RUNTIME_TURSO_SERVER_URL),
            Some("http://elsewhere:2")
        );
        assert_eq!(get(&env, RUNTIME_TURSO_SERVER_TOKEN), None);
    }

    #[test]
    fn no_server_means_local_workers_and_no_token() {
        let env = worker_env(
            host(&[
                ("TURSO_SERVER_TOKEN", "host-token"),
                ("RUNTIME_TURSO_SERVER_TOKEN", "worker-token"),
                ("TURSO_SERVER_URL", "   "),
            ]),
            None,
        );
        assert_eq!(get(&env, RUNTIME_TURSO_SERVER_URL), None);
        assert_eq!(get(&env, RUNTIME_TURSO_SERVER_TOKEN), None);
        assert_eq!(env.len(), 1, "only the directory: {env:?}");
    }

    #[test]
    fn worker_dir_follows_launcher_then_env_then_local_path() {
        let all = host(&[
            ("RUNTIME_TURSO_DIR", "/explicit"),
            ("TURSO_LOCAL_PATH", "/srv/turso/runtime.db"),
        ]);
        let env = worker_env(&all, Some(Path::new("/launcher")));
        assert_eq!(get(&env, RUNTIME_TURSO_DIR), Some("/launcher"));
        let env = worker_env(&all, None);
        assert_eq!(get(&env, RUNTIME_TURSO_DIR), Some("/explicit"));

        let cases = [
            ("/srv/turso/runtime.db", "/srv/turso/workers"),
            ("runtime.db", "./workers"),
            (":memory:", "./data/turso/workers"),
            ("  ", "./data/turso/workers"),
        ];
        for (local, want) in cases {
            let env = worker_env(
                host(&[("TURSO_LOCAL_PATH", local), ("RUNTIME_TURSO_DIR", " ")]),
                Some(Path::new("")),
            );
            assert_eq!(get(&env, RUNTIME_TURSO_DIR), Some(want), "{local:?}");
        }
    }

    #[test]
    fn only_turso_variables_are_held_back_from_workers() {
        assert!(is_turso_var(OsStr::new("TURSO_SERVER_TOKEN")));
        assert!(is_turso_var(OsStr::new("TURSO_SERVER_ADMIN_TOKEN")));
        assert!(is_turso_var(OsStr::new("RUNTIME_TURSO_SERVER_URL")));
        assert!(!is_turso_var(OsStr::new("PATH")));
        assert!(!is_turso_var(OsStr::new("MY_TURSO_THING")));
    }

    #[test]
    fn debug_never_shows_variable_values() {
        let mut launcher = WorkerLauncher::new("worker");
        launcher.env("RUNTIME_TURSO_SERVER_TOKEN", "tok-secret-1");
        let shown = format!("{launcher:?}");
        assert!(!shown.contains("tok-secret-1"), "{shown}");
        assert!(shown.contains("RUNTIME_TURSO_SERVER_TOKEN"));
    }

    #[tokio::test]
    async fn launched_worker_sees_the_derived_and_caller_variables() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut launcher = WorkerLauncher::new("/bin/sh");
        launcher
            .args([
                "-c",
                "printf '%s|%s|%s' \"$RUNTIME_TURSO_DIR\" \"$EXTRA\" \"$(pwd)\"",
            ])
            .turso_dir(dir.path().join("w"))
            .env("EXTRA", "x")
            .current_dir(dir.path());
        let output = launcher.command().output().await.expect("run sh");
        assert!(output.status.success());
        let want = format!(
            "{}|x|{}",
            dir.path().join("w").display(),
            dir.path().display()
        );
        assert_eq!(String::from_utf8_lossy(&output.stdout), want);
    }
}
