//! One readable line per event, with a header naming the columns.

use tracejob_engine::records::{Event, Value};

use super::histogram::human;

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
            let mut args = exec.argv.join(" ");
            if exec.argv_truncated {
                args.push_str(" ...");
            }
            let args = if exec.argv.first() == Some(&exec.filename) {
                args
            } else {
                format!("{} [{}]", exec.filename, args)
            };
            let ret = errno_or(exec.ret);
            format!(
                "{:<8} {:<8} {:<6} {:<8} {:<16} {}",
                exec.pid, exec.ppid, exec.uid, ret, exec.comm, args
            )
        }
        Event::Open(open) => {
            let ret = errno_or(open.ret);
            format!(
                "{:<8} {:<16} {:<8} {:<28} {}",
                open.pid, open.comm, ret, open.flags, open.path
            )
        }
        Event::Tcp(tcp) => format!(
            "{:<8} {:<16} {:<8} {:<24} {:<24} {:>10} {:>10} {:>10}{}",
            tcp.pid,
            tcp.comm,
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
                call.comm,
                human(call.latency_ns),
                call.function,
                args.join(", "),
                ret
            )
        }
        Event::Block(block) => format!(
            "{:<8} {:<16} {:<10} {:<6} {:>12} {:>8} {:>10}{}",
            block.pid,
            block.comm,
            block.device,
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
