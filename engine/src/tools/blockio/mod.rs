//! `blockio`: block I/O latency per device, and every request on demand.

mod devices;

use std::sync::Arc;

use aya::Ebpf;
use aya::maps::PerCpuHashMap;
use tracejob_ebpf::layout::{BlockEvent, LatencyStats, c_string};

use super::{Decoded, Decoder, ToolDriver};
use crate::aggregate::KeyedCounts;
use crate::error::EngineError;
use crate::latency;
use crate::maps::map_ref;
use crate::probe::{self, Hook, ProbeKind};
use crate::records::BlockRecord;
use crate::records::{Clock, Event};
use crate::summary::DeviceRow;
use crate::summary::ToolSummary;

const HOOKS: [Hook; 3] = [
    Hook {
        program: "insert",
        category: "block",
        name: "block_rq_insert",
    },
    Hook {
        program: "issue",
        category: "block",
        name: "block_rq_issue",
    },
    Hook {
        program: "complete",
        category: "block",
        name: "block_rq_complete",
    },
];

#[derive(Debug)]
pub struct Blockio {
    pub per_request: bool,
}

impl ToolDriver for Blockio {
    fn object(&self) -> &'static [u8] {
        tracejob_ebpf::objects::BLOCKIO
    }

    fn globals(&self) -> Vec<(&'static str, u32)> {
        vec![("per_request", u32::from(self.per_request))]
    }

    fn attach(
        &mut self,
        ebpf: &mut Ebpf,
        forced: Option<ProbeKind>,
    ) -> Result<String, EngineError> {
        // The classic block tracepoints carry no request pointer to pair issue and completion.
        let flavours = [ProbeKind::TpBtf, ProbeKind::RawTracepoint];
        Ok(
            probe::attach_hooks(ebpf, "blockio", &HOOKS, &flavours, forced)?
                .name()
                .to_owned(),
        )
    }

    fn decoder(&self) -> Option<Decoder> {
        self.per_request.then(|| Arc::new(decode) as Decoder)
    }

    fn summarise(
        &self,
        ebpf: &Ebpf,
        _: &KeyedCounts,
        _: u64,
    ) -> Result<(u64, ToolSummary), EngineError> {
        let map: PerCpuHashMap<_, u32, LatencyStats> = map_ref(ebpf, "device_latency")?;
        let mut devices = Vec::new();
        for entry in map.iter() {
            let (dev, per_cpu) = entry.map_err(|source| EngineError::Map {
                action: "read block latency",
                source,
            })?;
            let total = latency::sum(per_cpu.iter());
            let (major, minor) = devices::major_minor(dev);
            devices.push(DeviceRow {
                device: devices::name(dev),
                major_minor: format!("{major}:{minor}"),
                errors: total.errors,
                latency: latency::from_stats(&total),
            });
        }
        devices.sort_by(|a, b| {
            b.latency
                .count
                .cmp(&a.latency.count)
                .then_with(|| a.device.cmp(&b.device))
        });
        Ok((
            devices.iter().map(|d| d.latency.count).sum(),
            ToolSummary::Blockio { devices },
        ))
    }
}

fn decode(bytes: &[u8], clock: Clock) -> Option<Decoded> {
    let raw = BlockEvent::from_bytes(bytes)?;
    let record = BlockRecord {
        timestamp_ns: clock.wall_ns(raw.timestamp_ns),
        cgroup_id: raw.cgroup_id,
        device: devices::name(raw.dev),
        op: devices::op_name(raw.op).to_owned(),
        sector: raw.sector,
        bytes: raw.bytes,
        latency_ns: raw.latency_ns,
        pid: raw.pid,
        comm: c_string(&raw.comm),
        error: raw.error,
    };
    Some(Decoded {
        bytes: (0, 0),
        key: record.device.clone(),
        failed: record.error != 0,
        event: Event::Block(record),
    })
}
