//! The `tcp` summary's rows: one per direction and peer.

use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PeerRow {
    /// `connect` (to the peer) or `accept` (from it).
    pub direction: String,
    /// `address:port` for connect, `address` for accept.
    pub peer: String,
    pub connections: u64,
    /// Connections whose handshake never completed.
    pub failed: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
}
