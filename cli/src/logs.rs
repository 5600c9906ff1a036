//! `tracejob logs NAME [-n NS] [-f] [--since D]`: a running TraceJob's events as the
//! operator's live API serves them through the API server (see the operator's `live`
//! module), printed like `tracejob run` prints events, with a POD column.

use std::io::Write;

use anyhow::Context;
use futures::{AsyncBufReadExt, StreamExt};
use tracejob_api::live::{LiveLine, Notice, log_path};

use crate::args::{Format, LogsArgs};
use crate::cluster::{self, block_on};
use crate::output::event_lines;

pub fn logs(args: LogsArgs) -> anyhow::Result<()> {
    let since = args
        .since
        .as_deref()
        .map(tracejob_api::parse_duration)
        .transpose()
        .context("--since")?;
    block_on(async {
        let client = cluster::client_for_streams().await?;
        let namespace = cluster::namespace_or_default(&client, args.namespace.as_deref());
        let mut query = Vec::new();
        if args.follow {
            query.push("follow=true".to_owned());
        }
        if let Some(since) = since {
            query.push(format!("sinceSeconds={}", since.as_secs().max(1)));
        }
        let mut path = log_path(&namespace, &args.name);
        if !query.is_empty() {
            path = format!("{path}?{}", query.join("&"));
        }
        let request = http::Request::get(path).body(Vec::new())?;
        let stream = client
            .request_stream(request)
            .await
            .map_err(|error| explained(error, &namespace, &args.name))?;
        let mut lines = stream.lines();
        let mut printer = Printer::new(args.format);
        let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr());
        while let Some(line) = lines.next().await {
            let line = line.context("the event stream broke")?;
            printer
                .line(&line, &mut out, &mut err)
                .context("cannot print")?;
            out.flush().context("cannot print")?;
        }
        Ok(())
    })
}

/// The API server's refusal, with what to do about the ones a user can act on.
fn explained(error: kube::Error, namespace: &str, name: &str) -> anyhow::Error {
    let hint = match &error {
        kube::Error::Api(status) if status.code == 404 && !status.message.contains(name) => {
            " (is the operator's live API installed? kubectl get apiservice v1alpha1.live.tracejob.io)"
        }
        kube::Error::Api(status) if status.code == 503 => {
            " (the operator's live API does not answer: kubectl get apiservice v1alpha1.live.tracejob.io)"
        }
        _ => "",
    };
    anyhow::Error::new(error).context(format!(
        "cannot read the events of TraceJob {namespace}/{name}{hint}"
    ))
}

/// Prints each line of the stream as it comes: events to `out`, in table format what the
/// view could not show (notices) to `err`, so the table stays a table.
struct Printer {
    format: Format,
    /// The tool whose header was printed last.
    header_for: Option<String>,
}

impl Printer {
    fn new(format: Format) -> Self {
        Printer {
            format,
            header_for: None,
        }
    }

    fn line(
        &mut self,
        json: &str,
        out: &mut impl Write,
        err: &mut impl Write,
    ) -> std::io::Result<()> {
        if json.trim().is_empty() {
            return Ok(());
        }
        if self.format == Format::Json {
            return writeln!(out, "{json}");
        }
        match serde_json::from_str::<LiveLine>(json) {
            Ok(LiveLine::Event(event)) => {
                let tool = serde_json::to_value(&event.event)
                    .ok()
                    .and_then(|v| v.get("tool").and_then(|t| t.as_str()).map(str::to_owned));
                if self.header_for != tool {
                    writeln!(out, "{:<24} {}", "POD", event_lines::header(&event.event))?;
                    self.header_for = tool;
                }
                let pod = event
                    .origin
                    .pod
                    .as_deref()
                    .or(event.origin.node.as_deref())
                    .unwrap_or("-");
                writeln!(out, "{pod:<24} {}", event_lines::line(&event.event))
            }
            Ok(LiveLine::Notice(Notice { message, .. })) => {
                writeln!(err, "tracejob logs: {message}")
            }
            Err(_) => writeln!(
                err,
                "tracejob logs: a line this version cannot read: {json}"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracejob_api::event::{EventLine, Origin, samples};
    use tracejob_api::live::NoticeKind;

    fn printed(format: Format, lines: &[String]) -> (String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut printer = Printer::new(format);
        for line in lines {
            printer.line(line, &mut out, &mut err).unwrap();
        }
        (
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    fn lines() -> Vec<String> {
        let event = EventLine::new(
            Origin {
                pod: Some("web-0".into()),
                ..Origin::default()
            },
            samples::exec(),
        );
        let notice = Notice {
            notice: NoticeKind::Lost,
            events: 4,
            node: Some("n1".into()),
            message: "the agent on n1 dropped 4 events".into(),
        };
        let event = serde_json::to_string(&event).unwrap();
        vec![
            event.clone(),
            serde_json::to_string(&notice).unwrap(),
            event,
        ]
    }

    #[test]
    fn a_table_names_the_pod_once_per_header_and_says_losses_on_stderr() {
        let (out, err) = printed(Format::Table, &lines());
        let rows: Vec<&str> = out.lines().collect();
        assert_eq!(rows.len(), 3, "{out}");
        assert!(
            rows[0].starts_with("POD") && rows[0].contains("COMM"),
            "{out}"
        );
        assert!(
            rows[1].starts_with("web-0") && rows[2].starts_with("web-0"),
            "{out}"
        );
        assert_eq!(err, "tracejob logs: the agent on n1 dropped 4 events\n");
    }

    #[test]
    fn json_passes_every_line_through_notices_included() {
        let (out, err) = printed(Format::Json, &lines());
        assert_eq!(out.lines().collect::<Vec<_>>(), lines());
        assert!(err.is_empty());
    }
}
