//! What one `tcp` event (a closed connection) decodes into.

use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TcpRecord {
    /// When the connection closed.
    pub timestamp_ns: u64,
    pub cgroup_id: u64,
    /// `connect` (this side opened it) or `accept`.
    pub direction: &'static str,
    /// False when the handshake never completed (refused, timed out, reset).
    pub established: bool,
    pub local: String,
    pub remote: String,
    pub duration_ns: u64,
    /// Payload bytes received, and sent and acknowledged.
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    /// connect: the connecting process; accept: the process that closed the socket.
    pub pid: u32,
    pub comm: String,
}
