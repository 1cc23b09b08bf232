//! The binary's async runtime.

/// A multi-threaded tokio runtime with IO and time, as
/// [`crate::TursoServer::start`] needs.
///
/// # Errors
///
/// The OS error when its threads or drivers cannot be made.
pub(super) fn build() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}
