//! Accepting connections on the gRPC and admin ports.

use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

/// The pause after a failed accept, so a full file table is not spun on.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The next connection on `listener`. A failed accept (out of file
/// descriptors, or a peer that gave up) is logged for `port` and retried
/// after a pause, while the connections there are go on being served.
pub async fn accept(listener: &TcpListener, port: &str) -> TcpStream {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => return stream,
            Err(error) => {
                tracing::warn!(%error, port, "accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}
