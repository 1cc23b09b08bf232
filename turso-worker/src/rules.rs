//! Connection rules shared by workers and plugin-turso: how a local file
//! is switched to MVCC, and how a sync URL is shown without credentials.
//! plugin-turso calls these too, so the two never drift apart.

/// Switches the database behind `conn` to MVCC. The pragma answers the new
/// mode as a row, so it runs as a query; anything but an MVCC answer is an
/// error.
///
/// # Errors
///
/// The engine's error, or an error naming the mode the engine reported.
pub async fn enable_mvcc(conn: &turso::Connection) -> turso::Result<()> {
    let mut rows = conn.query("PRAGMA journal_mode = 'mvcc'", ()).await?;
    let mode = match rows.next().await? {
        Some(row) => row.get_value(0)?,
        None => turso::Value::Null,
    };
    while rows.next().await?.is_some() {}
    match mode {
        turso::Value::Text(m) if m.to_ascii_lowercase().contains("mvcc") => Ok(()),
        other => Err(turso::Error::Error(format!(
            "the engine did not switch to MVCC (journal_mode is {other:?})"
        ))),
    }
}

/// `url` without any `user:password@` part, for messages, logs and health.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://{host}{path}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_cut_from_urls() {
        assert_eq!(redact_url("http://u:p@h:1/x"), "http://h:1/x");
        assert_eq!(redact_url("http://h:1/x"), "http://h:1/x");
        assert_eq!(redact_url("h:1"), "h:1");
    }
}
