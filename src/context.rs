//! The ambient context of the HTTP request being handled: its id, which the API's middleware
//! (`api::request_id`) sets and the use cases read where they record who did what
//! (`app::audit`), without the use cases depending on the HTTP layer.

tokio::task_local! {
    static CURRENT: String;
}

/// The id of the request being handled, if any (read by the error responses).
pub fn current() -> Option<String> {
    CURRENT.try_with(Clone::clone).ok()
}

/// Runs `work` as part of the request `id`.
pub async fn scope<F: std::future::Future>(id: String, work: F) -> F::Output {
    CURRENT.scope(id, work).await
}
