//! `autodb serve`'s HTTP listener: the API router behind limits a caller cannot talk its way
//! around (docs/architecture.md §6: a caller may "send any bytes, many times, slowly").
//!
//! `axum::serve` has neither a header-read timeout nor a bound on connections, so 20,000
//! half-open connections exhausted the process's file descriptors. Here:
//! - a connection holds one of [`Limits::max_clients`] permits from accept to close; with all
//!   taken the listener stops accepting, and new clients wait in the kernel's backlog;
//! - hyper closes a connection whose request headers have not all arrived within
//!   [`Limits::header_timeout`] of it starting to wait for them, which is also how long a
//!   keep-alive connection may sit idle between requests (the wait for the next head is
//!   that timer's too);
//! - a request's body must arrive within [`Limits::body_timeout`] of its headers
//!   ([`autodb::api::BodyDeadline`]; `408 REQUEST_TIMEOUT`), so a client cannot hold a
//!   connection by trickling the body either;
//! - on the shutdown signal the listener closes, and connections finish their in-flight
//!   request (each is told to shut down gracefully), for at most [`SHUTDOWN_GRACE`].

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

/// How long in-flight requests may take to finish after the shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// See the module doc.
pub struct Limits {
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub max_clients: usize,
}

/// Serves `router` on `listener` until `shutdown` completes, then waits for the connections
/// to finish their requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_clients.max(1)));
    let (stop, stopping) = watch::channel(false);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    // Out of descriptors or a connection reset before accept: not fatal.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = hyper::service::service_fn({
            let router = router.clone();
            let body_timeout = limits.body_timeout;
            move |mut request: hyper::Request<Incoming>| {
                let mut router = router.clone();
                request.extensions_mut().insert(autodb::api::BodyDeadline(
                    tokio::time::Instant::now() + body_timeout,
                ));
                async move {
                    tower::Service::call(&mut router, request.map(axum::body::Body::new)).await
                }
            }
        });
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        let mut stopping = stopping.clone();
        tokio::spawn(async move {
            let _permit = permit;
            tokio::pin!(connection);
            loop {
                tokio::select! {
                    result = connection.as_mut() => {
                        if let Err(err) = result {
                            tracing::debug!(error = %err, "client connection ended with an error");
                        }
                        break;
                    }
                    changed = stopping.changed() => {
                        connection.as_mut().graceful_shutdown();
                        if changed.is_err() {
                            // The listener is gone; graceful shutdown is under way already.
                            let _ = connection.as_mut().await;
                            break;
                        }
                    }
                }
            }
        });
    }
    drop(listener);
    let _ = stop.send(true);
    // Every connection holds a permit until it ends: all of them back means all ended. A
    // request still running after the grace period is cut off.
    let all = u32::try_from(limits.max_clients.max(1)).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, permits.acquire_many(all)).await;
}
