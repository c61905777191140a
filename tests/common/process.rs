//! The real binary as a child process.

use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_zt-authz");

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Kills and reaps the child when dropped.
pub struct ChildGuard(pub std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl ChildGuard {
    /// Waits (off the async runtime) for the process to exit by itself.
    pub async fn exit_status(mut self) -> std::process::ExitStatus {
        tokio::task::spawn_blocking(move || {
            let status = self.0.wait();
            // Already reaped: nothing left for Drop to kill.
            std::mem::forget(self);
            status
        })
        .await
        .unwrap()
        .unwrap()
    }

    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.0.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }
}

/// A gRPC channel, retried (bounded) until the server listens.
pub async fn connect(addr: &str) -> tonic::transport::Channel {
    for _ in 0..400 {
        if let Ok(c) = tonic::transport::Endpoint::from_shared(addr.to_string())
            .unwrap()
            .connect()
            .await
        {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("nothing listens on {addr}");
}

/// `yaml` (from `standard_config`) with its port-0 listeners moved to free
/// ports a child process can be reached on: (config, grpc port, admin port).
pub fn on_free_ports(yaml: &str) -> (String, u16, u16) {
    let (grpc, admin) = (free_port(), free_port());
    let yaml = yaml
        .replace(
            "grpc_addr: 127.0.0.1:0",
            &format!("grpc_addr: 127.0.0.1:{grpc}"),
        )
        .replace(
            "admin_addr: 127.0.0.1:0",
            &format!("admin_addr: 127.0.0.1:{admin}"),
        );
    (yaml, grpc, admin)
}
