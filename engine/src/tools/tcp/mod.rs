//! `tcp`: TCP connection lifecycles of the targets (BCC tcplife).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use std::sync::Arc;

use aya::Ebpf;
use tracejob_ebpf::layout::{TcpEvent, c_string};

use super::{Decoded, Decoder, ToolDriver};
use crate::aggregate::KeyedCounts;
use crate::error::EngineError;
use crate::probe::{self, Hook, ProbeKind};
use crate::records::TcpRecord;
use crate::records::{Clock, Event};
use crate::summary::PeerRow;
use crate::summary::ToolSummary;

const HOOKS: [Hook; 1] = [Hook {
    program: "state",
    category: "sock",
    name: "inet_sock_set_state",
}];
const AF_INET6: u16 = 10;
/// Rows are keyed `direction peer`, e.g. `connect 10.0.0.7:5432` or `accept 10.0.0.9`.
const KEY_SEPARATOR: char = ' ';

#[derive(Debug)]
pub struct Tcp;

impl ToolDriver for Tcp {
    fn object(&self) -> &'static [u8] {
        tracejob_ebpf::objects::TCP
    }

    fn attach(
        &mut self,
        ebpf: &mut Ebpf,
        forced: Option<ProbeKind>,
    ) -> Result<String, EngineError> {
        // The classic tracepoint has no socket pointer to follow a connection by.
        let flavours = [ProbeKind::TpBtf, ProbeKind::RawTracepoint];
        Ok(probe::attach_hooks(ebpf, "tcp", &HOOKS, &flavours, forced)?
            .name()
            .to_owned())
    }

    fn decoder(&self) -> Option<Decoder> {
        Some(Arc::new(decode))
    }

    fn summarise(
        &self,
        _: &Ebpf,
        counts: &KeyedCounts,
        events: u64,
    ) -> Result<(u64, ToolSummary), EngineError> {
        let peers = counts
            .sorted()
            .into_iter()
            .map(|(key, counts)| {
                let (direction, peer) = key.split_once(KEY_SEPARATOR).unwrap_or(("", key.as_str()));
                PeerRow {
                    direction: direction.to_owned(),
                    peer: peer.to_owned(),
                    connections: counts.count,
                    failed: counts.errors,
                    rx_bytes: counts.bytes_in,
                    tx_bytes: counts.bytes_out,
                }
            })
            .collect();
        Ok((
            events,
            ToolSummary::Tcp {
                connections: events,
                peers,
            },
        ))
    }
}

fn decode(bytes: &[u8], clock: Clock) -> Option<Decoded> {
    let raw = TcpEvent::from_bytes(bytes)?;
    let local = SocketAddr::new(address(raw.family, &raw.local_addr), raw.local_port);
    let remote = SocketAddr::new(address(raw.family, &raw.remote_addr), raw.remote_port);
    let direction = if raw.direction == 1 {
        "connect"
    } else {
        "accept"
    };
    // A client's ports change with every connection: accepted ones group by address.
    let peer = if direction == "connect" {
        remote.to_string()
    } else {
        remote.ip().to_string()
    };
    let record = TcpRecord {
        timestamp_ns: clock.wall_ns(raw.timestamp_ns),
        cgroup_id: raw.cgroup_id,
        direction: direction.to_owned(),
        established: raw.established != 0,
        local: local.to_string(),
        remote: remote.to_string(),
        duration_ns: raw.duration_ns,
        rx_bytes: raw.rx_bytes,
        tx_bytes: raw.tx_bytes,
        pid: raw.pid,
        comm: c_string(&raw.comm),
    };
    Some(Decoded {
        key: format!("{direction}{KEY_SEPARATOR}{peer}"),
        failed: !record.established,
        bytes: (record.rx_bytes, record.tx_bytes),
        event: Event::Tcp(record),
    })
}

fn address(family: u16, bytes: &[u8; 16]) -> IpAddr {
    if family == AF_INET6 {
        IpAddr::V6(Ipv6Addr::from(*bytes))
    } else {
        IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_decode_in_network_order() {
        let mut v4 = [0u8; 16];
        v4[..4].copy_from_slice(&[127, 0, 0, 1]);
        assert_eq!(address(2, &v4).to_string(), "127.0.0.1");
        let mut v6 = [0u8; 16];
        v6[15] = 1;
        assert_eq!(address(AF_INET6, &v6).to_string(), "::1");
    }
}
