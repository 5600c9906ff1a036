//! One readable line per event, with a header naming the columns.

use tracejob_engine::records::{Event, Value};

use super::histogram::human;
use super::shown::shown;

pub fn header(event: &Event) -> String {
    match event {
        Event::Exec(_) => format!(
            "{:<8} {:<8} {:<6} {:<8} {:<16} ARGS",
            "PID", "PPID", "UID", "RET", "COMM"
        ),
        Event::Open(_) => format!(
            "{:<8} {:<16} {:<8} {:<28} PATH",
            "PID", "COMM", "FD", "FLAGS"
        ),
        Event::Tcp(_) => format!(
            "{:<8} {:<16} {:<8} {:<24} {:<24} {:>10} {:>10} {:>10}",
            "PID", "COMM", "DIR", "LOCAL", "REMOTE", "RX_BYTES", "TX_BYTES", "DURATION"
        ),
        Event::Call(_) => format!(
            "{:<8} {:<16} {:>10}  CALL = RESULT",
            "PID", "COMM", "LATENCY"
        ),
        Event::Block(_) => {
            format!(
                "{:<8} {:<16} {:<10} {:<6} {:>12} {:>8} {:>10}",
                "PID", "COMM", "DEVICE", "OP", "SECTOR", "BYTES", "LATENCY"
            )
        }
    }
}

pub fn line(event: &Event) -> String {
    match event {
        Event::Exec(exec) => {
            let argv: Vec<_> = exec.argv.iter().map(|a| shown(a)).collect();
            let mut args = argv.join(" ");
            if exec.argv_truncated {
                args.push_str(" ...");
            }
            let args = if exec.argv.first() == Some(&exec.filename) {
                args
            } else {
                format!("{} [{}]", shown(&exec.filename), args)
            };
            let ret = errno_or(exec.ret);
            format!(
                "{:<8} {:<8} {:<6} {:<8} {:<16} {}",
                exec.pid,
                exec.ppid,
                exec.uid,
                ret,
                shown(&exec.comm),
                args
            )
        }
        Event::Open(open) => {
            let ret = errno_or(open.ret);
            format!(
                "{:<8} {:<16} {:<8} {:<28} {}",
                open.pid,
                shown(&open.comm),
                ret,
                open.flags,
                shown(&open.path)
            )
        }
        Event::Tcp(tcp) => format!(
            "{:<8} {:<16} {:<8} {:<24} {:<24} {:>10} {:>10} {:>10}{}",
            tcp.pid,
            shown(&tcp.comm),
            tcp.direction,
            tcp.local,
            tcp.remote,
            tcp.rx_bytes,
            tcp.tx_bytes,
            human(tcp.duration_ns),
            if tcp.established {
                ""
            } else {
                " (never established)"
            }
        ),
        Event::Call(call) => {
            let args: Vec<String> = call.args.iter().map(show).collect();
            let ret = call.ret.as_ref().map(show).unwrap_or_default();
            format!(
                "{:<8} {:<16} {:>10}  {}({}) = {}",
                call.pid,
                shown(&call.comm),
                human(call.latency_ns),
                shown(&call.function),
                args.join(", "),
                ret
            )
        }
        Event::Block(block) => format!(
            "{:<8} {:<16} {:<10} {:<6} {:>12} {:>8} {:>10}{}",
            block.pid,
            shown(&block.comm),
            shown(&block.device),
            block.op,
            block.sector,
            block.bytes,
            human(block.latency_ns),
            if block.error != 0 {
                format!(" error {}", block.error)
            } else {
                String::new()
            }
        ),
    }
}

/// A recorded value as C would print it: numbers bare, strings quoted.
fn show(value: &Value) -> String {
    match value {
        Value::Int(number) => number.to_string(),
        Value::Text(text) if text.starts_with("0x") => text.clone(),
        Value::Text(text) => format!("{text:?}"),
        Value::Null => "NULL".to_owned(),
    }
}

/// A file descriptor or result, or the errno name for a failure.
pub fn errno_or(ret: i32) -> String {
    if ret >= 0 {
        return ret.to_string();
    }
    let name = match -ret {
        libc::ENOENT => "ENOENT",
        libc::EACCES => "EACCES",
        libc::EPERM => "EPERM",
        libc::EEXIST => "EEXIST",
        libc::ENOTDIR => "ENOTDIR",
        libc::EISDIR => "EISDIR",
        libc::EMFILE => "EMFILE",
        libc::ENOEXEC => "ENOEXEC",
        libc::ELOOP => "ELOOP",
        libc::EINVAL => "EINVAL",
        libc::EROFS => "EROFS",
        libc::ENAMETOOLONG => "ENAMETOOLONG",
        _ => return ret.to_string(),
    };
    name.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracejob_engine::records::{ExecRecord, OpenRecord};

    #[test]
    fn a_process_naming_itself_with_escapes_cannot_write_to_the_terminal() {
        let exec = Event::Exec(ExecRecord {
            timestamp_ns: 0,
            cgroup_id: 0,
            pid: 1,
            ppid: 0,
            uid: 0,
            comm: "\x1b]52;c;eA==\x07".into(),
            filename: "/tmp/\x1b[8m".into(),
            argv: vec!["sh".into(), "-c\nfake line".into()],
            argv_truncated: false,
            ret: 0,
        });
        let open = Event::Open(OpenRecord {
            path: "/tmp/\u{202e}txt.exe".into(),
            comm: "cat".into(),
            ..open_record()
        });
        for event in [exec, open] {
            let text = line(&event);
            assert!(!text.chars().any(char::is_control), "{text:?}");
            assert!(!text.contains('\u{202e}'), "{text:?}");
        }
    }

    fn open_record() -> OpenRecord {
        serde_json::from_value(serde_json::json!({
            "timestamp_ns": 0, "cgroup_id": 0, "pid": 2, "tid": 2, "uid": 0, "comm": "",
            "ret": 3, "flags": "O_RDONLY", "mode": 0, "path": ""
        }))
        .expect("an open record")
    }
}
