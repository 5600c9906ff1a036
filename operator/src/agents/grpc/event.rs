//! The agent's typed events into event lines, and the job's arguments onto the wire.

use tracejob_api::event::{
    BlockRecord, CallRecord, Event, EventLine, ExecRecord, OpenRecord, Origin, TcpRecord, Value,
};
use tracejob_api::{ToolArgs, ValueType};
use tracejob_proto::v1;
use tracejob_proto::v1::event::Record;

/// The event as a line naming `node` and what the agent named; None for a record this
/// operator does not know (an agent of a newer version).
pub fn event_line(node: &str, event: v1::Event) -> Option<EventLine> {
    let named = |text: String| Some(text).filter(|t| !t.is_empty());
    let origin = event.origin.unwrap_or_default();
    let origin = Origin {
        node: Some(node.to_owned()),
        namespace: named(origin.namespace),
        pod: named(origin.pod),
        container: named(origin.container),
        ..Origin::default()
    };
    Some(EventLine::new(origin, record(event.record?)))
}

fn record(record: Record) -> Event {
    match record {
        Record::Exec(e) => Event::Exec(ExecRecord {
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
        Record::Open(e) => Event::Open(OpenRecord {
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
        Record::Block(e) => Event::Block(BlockRecord {
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
        Record::Tcp(e) => Event::Tcp(TcpRecord {
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
        Record::Call(e) => Event::Call(CallRecord {
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

fn value(value: v1::Value) -> Value {
    use v1::value::Kind;
    match value.kind {
        Some(Kind::Int(n)) => Value::Int(n),
        Some(Kind::Text(text)) => Value::Text(text),
        None => Value::Null,
    }
}

/// spec.args, typed.
pub fn tool_args(args: &ToolArgs) -> v1::ToolArgs {
    v1::ToolArgs {
        syscalls: args.syscalls.clone(),
        count_only: args.count_only,
        failed_only: args.failed_only,
        frequency: args.frequency,
        per_request: args.per_request,
        function: args.function.clone(),
        binary: args.binary.clone(),
        arg_types: args
            .arg_types
            .iter()
            .map(|t| value_type(*t) as i32)
            .collect(),
        return_type: args.return_type.map(|t| value_type(t) as i32),
    }
}

fn value_type(value_type: ValueType) -> v1::ValueType {
    match value_type {
        ValueType::Int => v1::ValueType::Int,
        ValueType::Long => v1::ValueType::Long,
        ValueType::Pointer => v1::ValueType::Pointer,
        ValueType::String => v1::ValueType::String,
        ValueType::None => v1::ValueType::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typed_event_becomes_a_line_naming_the_node_and_the_agents_origin() {
        let event = v1::Event {
            origin: Some(v1::Origin {
                namespace: "shop".into(),
                pod: "web-0".into(),
                container: String::new(),
            }),
            record: Some(Record::Call(v1::CallEvent {
                function: "readline".into(),
                args: vec![
                    v1::Value {
                        kind: Some(v1::value::Kind::Int(-3)),
                    },
                    v1::Value { kind: None },
                ],
                ..v1::CallEvent::default()
            })),
        };
        let line = event_line("n1", event).expect("a known record");
        assert_eq!(line.origin.node.as_deref(), Some("n1"));
        assert_eq!(line.origin.pod.as_deref(), Some("web-0"));
        assert_eq!(line.origin.container, None, "empty is unknown");
        let Event::Call(call) = line.event else {
            panic!("a call: {line:?}");
        };
        assert_eq!(call.args, [Value::Int(-3), Value::Null]);
        assert!(event_line("n1", v1::Event::default()).is_none());
    }

    #[test]
    fn every_argument_goes_typed() {
        let args = ToolArgs {
            arg_types: vec![ValueType::String, ValueType::Pointer],
            return_type: Some(ValueType::Int),
            per_request: true,
            ..ToolArgs::default()
        };
        let wire = tool_args(&args);
        assert_eq!(
            wire.arg_types,
            [v1::ValueType::String as i32, v1::ValueType::Pointer as i32]
        );
        assert_eq!(wire.return_type, Some(v1::ValueType::Int as i32));
        assert!(wire.per_request);
    }
}
