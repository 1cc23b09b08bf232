//! Namespaces are checked before anything touches the disk.

use turso_worker::{open_turso, OpenOptions};

const INVALID: &[&str] = &["Tenants", "../x", "", "_reserved", "a/b", "a.b"];

#[tokio::test]
async fn invalid_namespaces_are_refused_before_anything_is_created() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("never-created");
    let too_long = "a".repeat(64);
    let names = INVALID.iter().copied().chain([too_long.as_str()]);
    for name in names {
        let err = open_turso(name, OpenOptions::new().dir(&dir))
            .await
            .expect_err(name);
        assert_eq!(err.code(), "INVALID_TURSO_NAMESPACE", "{name:?}: {err}");
        assert_eq!(err.code(), turso_common::INVALID_NAMESPACE_CODE);
        // Also in sync mode: no request, no file.
        let err = open_turso(
            name,
            OpenOptions::new()
                .dir(&dir)
                .server_url("http://127.0.0.1:9"),
        )
        .await
        .expect_err(name);
        assert_eq!(err.code(), "INVALID_TURSO_NAMESPACE", "{name:?}: {err}");
    }
    assert!(!dir.exists(), "no directory may be created for a bad name");
    assert_eq!(
        std::fs::read_dir(tmp.path()).expect("read tmp").count(),
        0,
        "nothing created at all"
    );
}

#[test]
fn resolution_refuses_the_same_names() {
    let too_long = "a".repeat(64);
    for name in INVALID.iter().copied().chain([too_long.as_str()]) {
        let err = OpenOptions::new().resolve(name, |_| None).expect_err(name);
        assert_eq!(err.code(), "INVALID_TURSO_NAMESPACE", "{name:?}");
    }
    let longest = "a".repeat(63);
    assert!(OpenOptions::new().resolve(&longest, |_| None).is_ok());
}
