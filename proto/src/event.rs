//! Events between the API's event line (`tracejob_api::event`) and the typed `Event`
//! message, both ways: the node agent sends each event line as an [`v1::Event`], the
//! operator reads it back and adds the node.

use tracejob_api::event::{
    BlockRecord, CallRecord, Event, EventLine, ExecRecord, OpenRecord, Origin, TcpRecord, Value,
};

use crate::ConvertError;
use crate::v1::{self, event::Record};

impl From<EventLine> for v1::Event {
    /// The event with its namespace, pod and container. The node is the operator's to
    /// add; a local run's cgroup and command never travel.
    fn from(line: EventLine) -> Self {
        let origin = line.origin;
        v1::Event {
            origin: Some(v1::Origin {
                namespace: origin.namespace.unwrap_or_default(),
                pod: origin.pod.unwrap_or_default(),
                container: origin.container.unwrap_or_default(),
            }),
            record: Some(to_record(line.event)),
        }
    }
}

impl TryFrom<v1::Event> for EventLine {
    type Error = ConvertError;

    /// The line with what the agent named (an empty name is unknown) and no node.
    /// [`ConvertError::Missing`] for an event without a record, which is also how a
    /// record of a newer agent's kind decodes.
    fn try_from(event: v1::Event) -> Result<Self, ConvertError> {
        let named = |text: String| Some(text).filter(|t| !t.is_empty());
        let record = event.record.ok_or(ConvertError::Missing("event.record"))?;
        let origin = event.origin.unwrap_or_default();
        let origin = Origin {
            namespace: named(origin.namespace),
            pod: named(origin.pod),
            container: named(origin.container),
            ..Origin::default()
        };
        Ok(EventLine::new(origin, from_record(record)))
    }
}

fn to_record(event: Event) -> Record {
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
            args: e.args.into_iter().map(to_value).collect(),
            ret: e.ret.map(to_value),
            latency_ns: e.latency_ns,
        }),
    }
}

fn to_value(value: Value) -> v1::Value {
    use v1::value::Kind;
    v1::Value {
        kind: match value {
            Value::Int(n) => Some(Kind::Int(n)),
            Value::Text(text) => Some(Kind::Text(text)),
            Value::Null => None,
        },
    }
}

fn from_record(record: Record) -> Event {
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
            args: e.args.into_iter().map(from_value).collect(),
            ret: e.ret.map(from_value),
            latency_ns: e.latency_ns,
        }),
    }
}

fn from_value(value: v1::Value) -> Value {
    use v1::value::Kind;
    match value.kind {
        Some(Kind::Int(n)) => Value::Int(n),
        Some(Kind::Text(text)) => Value::Text(text),
        None => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_tool() -> Vec<Event> {
        vec![
            tracejob_api::event::samples::exec(),
            Event::Open(OpenRecord {
                timestamp_ns: 1,
                cgroup_id: 2,
                pid: 3,
                tid: 4,
                uid: 5,
                comm: "cat".into(),
                path: "/etc/hosts".into(),
                flags: "O_RDONLY".into(),
                ret: 3,
            }),
            Event::Block(BlockRecord {
                timestamp_ns: 1,
                cgroup_id: 2,
                device: "vda".into(),
                op: "write".into(),
                sector: 3,
                bytes: 4096,
                latency_ns: 5,
                pid: 6,
                comm: "dd".into(),
                error: -5,
            }),
            Event::Tcp(TcpRecord {
                timestamp_ns: 1,
                cgroup_id: 2,
                direction: "connect".into(),
                established: true,
                local: "10.0.0.1:5000".into(),
                remote: "10.0.0.2:80".into(),
                duration_ns: 3,
                rx_bytes: 4,
                tx_bytes: 5,
                pid: 6,
                comm: "curl".into(),
            }),
            Event::Call(CallRecord {
                timestamp_ns: 1,
                cgroup_id: 2,
                pid: 3,
                tid: 4,
                comm: "bash".into(),
                function: "readline".into(),
                args: vec![Value::Int(-3), Value::Text("x".into()), Value::Null],
                ret: Some(Value::Text("ls".into())),
                latency_ns: 9,
            }),
        ]
    }

    #[test]
    fn every_tool_s_event_comes_back_from_its_message_unchanged() {
        let origin = Origin {
            namespace: Some("shop".into()),
            pod: Some("web-0".into()),
            container: Some("app".into()),
            ..Origin::default()
        };
        for event in every_tool() {
            let line = EventLine::new(origin.clone(), event);
            let message = v1::Event::from(line.clone());
            let encoded = prost::Message::encode_to_vec(&message);
            let decoded: v1::Event = prost::Message::decode(encoded.as_slice()).expect("decodes");
            assert_eq!(EventLine::try_from(decoded).expect("a line"), line);
        }
    }

    #[test]
    fn the_node_and_a_local_origin_stay_behind_and_an_empty_name_is_unknown() {
        let line = EventLine::new(
            Origin {
                node: Some("n1".into()),
                namespace: Some("shop".into()),
                cgroup: Some("tracejob/run".into()),
                command: Some("make".into()),
                ..Origin::default()
            },
            every_tool().swap_remove(0),
        );
        let back = EventLine::try_from(v1::Event::from(line)).expect("a line");
        assert_eq!(
            back.origin,
            Origin {
                namespace: Some("shop".into()),
                ..Origin::default()
            }
        );
    }

    #[test]
    fn an_event_without_a_record_is_refused_naming_the_field() {
        let error = EventLine::try_from(v1::Event::default()).expect_err("no record");
        assert_eq!(error, ConvertError::Missing("event.record"));
    }
}
