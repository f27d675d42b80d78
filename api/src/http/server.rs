//! The HTTP/1.1 connection loop. axum's `serve` offers no header-read timeout, so a client
//! that sends headers slowly could hold a connection for as long as it liked; this loop
//! sets one, and closes a keep-alive connection cleanly (`Connection: close`) when a
//! response was sent before the request's body was read, so the client's next request
//! never meets a connection the server has dropped.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderValue, Request};
use axum::Router;
use bytes::Bytes;
use http_body::{Body as _, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// A request body that records when it has been read to the end.
struct Tracked {
    inner: Incoming,
    finished: Arc<AtomicBool>,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || self.inner.is_end_stream() {
            self.finished.store(true, Ordering::Relaxed);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Serves `router` on `listener` until `stop` is cancelled, then lets open connections
/// finish their current request and waits for them.
pub async fn run(
    listener: TcpListener,
    router: Router,
    header_read_timeout: Duration,
    proxies: Arc<super::forwarded::TrustedProxies>,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let (open_tx, open_rx) = watch::channel(());
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of file descriptors and the like: back off instead of spinning.
                Err(err) => {
                    tracing::warn!(%err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let stop = stop.clone();
        let open = open_rx.clone();
        let proxies = proxies.clone();
        tokio::spawn(async move {
            serve_connection(stream, remote, router, header_read_timeout, proxies, stop).await;
            drop(open);
        });
    }
    drop(open_rx);
    drop(listener);
    open_tx.closed().await;
    Ok(())
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    remote: SocketAddr,
    router: Router,
    header_read_timeout: Duration,
    proxies: Arc<super::forwarded::TrustedProxies>,
    stop: CancellationToken,
) {
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let router = router.clone();
        let proxies = proxies.clone();
        async move {
            let finished = Arc::new(AtomicBool::new(request.body().is_end_stream()));
            let (mut parts, body) = request.into_parts();
            parts
                .extensions
                .insert(ConnectInfo(proxies.client(remote, &parts.headers)));
            let body = Body::new(Tracked {
                inner: body,
                finished: finished.clone(),
            });
            let mut response = router
                .oneshot(Request::from_parts(parts, body))
                .await
                .unwrap_or_else(|err: Infallible| match err {});
            if !finished.load(Ordering::Relaxed) {
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            Ok::<_, Infallible>(response)
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .max_headers(super::request_limits::HYPER_MAX_HEADERS);
    let connection = builder
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(err) = result {
                tracing::debug!(%err, "connection ended with an error");
            }
        }
        _ = stop.cancelled() => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}
