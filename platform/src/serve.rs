//! The HTTP server loop, with the limits an exposed service needs: a cap on open
//! connections, overall and per client address (one over it is closed at once, so a
//! flood of idle sockets cannot make the service unreachable, and one address cannot
//! take every slot), a deadline for a request's headers (slow and idle
//! connections are closed: hyper's header-read timeout, with a timer), deadlines for
//! the body and for the whole request (tower-http), and the client's address for
//! the login throttle.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tower::ServiceExt;

/// Limits of the server loop.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Open connections at most.
    pub max_connections: usize,
    /// Open connections at most from one address: a quarter of the overall cap, so
    /// one address cannot take the service, while a training centre or an
    /// enterprise with thousands of learners behind one NAT address still fits.
    pub max_connections_per_ip: usize,
    /// A request's headers must arrive within this (also closes idle keep-alive
    /// connections).
    pub header_timeout: Duration,
    /// A request's body must arrive within this.
    pub body_timeout: Duration,
    /// A request must be answered within this.
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 16_384,
            max_connections_per_ip: 4_096,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(60),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` completes; then stops accepting and
/// lets open requests finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = app
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            limits.body_timeout,
        ))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            limits.request_timeout,
        ));
    let permits = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let per_ip = Arc::new(PerAddress::default());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little, go on.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::warn!(%addr, "connection refused: too many open connections");
            drop(stream);
            continue;
        };
        let Some(slot) = PerAddress::take(&per_ip, addr.ip(), limits.max_connections_per_ip) else {
            tracing::warn!(%addr, "connection refused: too many open connections from this address");
            drop(stream);
            continue;
        };
        let svc = app
            .clone()
            .map_request(move |mut req: axum::http::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(addr));
                req.map(axum::body::Body::new)
            });
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let _permit = (permit, slot);
            // The first byte must arrive within the header deadline: hyper's own
            // deadline starts only once it has read enough to pick the protocol, so
            // a socket that never sends would otherwise hold its permit for ever.
            let mut probe = [0u8; 1];
            match tokio::time::timeout(limits.header_timeout, stream.peek(&mut probe)).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => return,
            }
            // HTTP/1.1 only: hyper's header deadline covers HTTP/1 alone, and an idle
            // HTTP/2 connection would hold its slot for ever.
            let mut builder = Builder::new(TokioExecutor::new()).http1_only();
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout);
            let hyper_svc = TowerToHyperService::new(svc);
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), hyper_svc);
            let mut conn = std::pin::pin!(conn);
            loop {
                tokio::select! {
                    r = conn.as_mut() => {
                        if let Err(e) = r {
                            tracing::trace!(error = %e, "connection ended");
                        }
                        break;
                    }
                    _ = stop.changed() => conn.as_mut().graceful_shutdown(),
                }
            }
        });
    }
    let _ = stop_tx.send(true);
    Ok(())
}

/// Open connections per client address.
#[derive(Debug, Default)]
struct PerAddress(std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>);

/// One open connection of an address; closing it frees the slot.
struct AddressSlot {
    table: Arc<PerAddress>,
    ip: std::net::IpAddr,
}

impl PerAddress {
    fn take(table: &Arc<PerAddress>, ip: std::net::IpAddr, max: usize) -> Option<AddressSlot> {
        let mut m = table.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(AddressSlot {
            table: table.clone(),
            ip,
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut m = self.table.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                // The table holds only addresses with open connections.
                m.remove(&self.ip);
            }
        }
    }
}

/// The client's address, when the server loop recorded it.
pub fn client_addr(parts: &axum::http::request::Parts) -> Option<SocketAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
}
