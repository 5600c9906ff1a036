//! An event line (engine/API types) onto the wire as a typed `Event`.

use tracejob_engine::records::{Event, EventLine, Value};
use tracejob_proto::v1;
use tracejob_proto::v1::event::Record;

/// The event with its namespace, pod and container (the node is the operator's to add).
pub fn event(line: EventLine) -> v1::Event {
    let origin = line.origin;
    v1::Event {
        origin: Some(v1::Origin {
            namespace: origin.namespace.unwrap_or_default(),
            pod: origin.pod.unwrap_or_default(),
            container: origin.container.unwrap_or_default(),
        }),
        record: Some(record(line.event)),
    }
}

fn record(event: Event) -> Record {
    match event {
        Event::Exec(e) => Record::Exec(v1::ExecEvent {
            timestamp_ns: e.timestamp_ns,
            cgroup_id: e.cgroup_id,
            pid: e.pid,
            ppid: e.ppid,
            uid: e.uid,
            comm: e.comm,
            filename: e.filename,
            argv: e.argv,
            argv_truncated: e.argv_truncated,
            ret: e.ret,
        }),
        Event::Open(e) => Record::Open(v1::OpenEvent {
            timestamp_ns: e.timestamp_ns,
            cgroup_id: e.cgroup_id,
            pid: e.pid,
            tid: e.tid,
            uid: e.uid,
            comm: e.comm,
            path: e.path,
            flags: e.flags,
            ret: e.ret,
        }),
        Event::Block(e) => Record::Block(v1::BlockEvent {
            timestamp_ns: e.timestamp_ns,
            cgroup_id: e.cgroup_id,
            device: e.device,
            op: e.op,
            sector: e.sector,
            bytes: e.bytes,
            latency_ns: e.latency_ns,
            pid: e.pid,
            comm: e.comm,
            error: e.error,
        }),
        Event::Tcp(e) => Record::Tcp(v1::TcpEvent {
            timestamp_ns: e.timestamp_ns,
            cgroup_id: e.cgroup_id,
            direction: e.direction,
            established: e.established,
            local: e.local,
            remote: e.remote,
            duration_ns: e.duration_ns,
            rx_bytes: e.rx_bytes,
            tx_bytes: e.tx_bytes,
            pid: e.pid,
            comm: e.comm,
        }),
        Event::Call(e) => Record::Call(v1::CallEvent {
            timestamp_ns: e.timestamp_ns,
            cgroup_id: e.cgroup_id,
            pid: e.pid,
            tid: e.tid,
            comm: e.comm,
            function: e.function,
            args: e.args.into_iter().map(value).collect(),
            ret: e.ret.map(value),
            latency_ns: e.latency_ns,
        }),
    }
}

fn value(value: Value) -> v1::Value {
    use v1::value::Kind;
    v1::Value {
        kind: match value {
            Value::Int(n) => Some(Kind::Int(n)),
            Value::Text(text) => Some(Kind::Text(text)),
            Value::Null => None,
        },
    }
}
