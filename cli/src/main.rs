//! `tracejob`: declarative eBPF tracing. `tracejob run` is the embedded default: it
//! takes the same TraceJob manifest the cluster takes and traces processes of this host.

mod args;
mod cluster;
mod command;
mod get;
mod logs;
mod output;
mod results;
mod run;
mod signals;
mod targets;
mod view;

use clap::Parser;

fn main() {
    let cli = args::Cli::parse();
    let result = match cli.verb {
        args::Verb::Run(run_args) => run::run(run_args),
        args::Verb::Results(results_args) => results::results(results_args).map(|()| 0),
        args::Verb::Get(get_args) => get::get(get_args).map(|()| 0),
        args::Verb::Describe(describe_args) => get::describe(describe_args).map(|()| 0),
        args::Verb::Logs(logs_args) => logs::logs(logs_args).map(|()| 0),
        args::Verb::Completion(completion) => {
            let mut command = <args::Cli as clap::CommandFactory>::command();
            clap_complete::generate(
                completion.shell,
                &mut command,
                "tracejob",
                &mut std::io::stdout(),
            );
            Ok(0)
        }
    };
    match result {
        Ok(status) => std::process::exit(status),
        Err(error) => {
            eprintln!("tracejob: error: {}", one_line(&error));
            std::process::exit(2);
        }
    }
}

/// The error and its causes on one line, as a person reads them.
fn one_line(error: &anyhow::Error) -> String {
    error
        .chain()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}
