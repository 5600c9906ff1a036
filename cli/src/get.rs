//! `tracejob get [NAME] [-n NS | -A]` and `tracejob describe NAME [-n NS]`: TraceJobs read
//! through the user's own kubeconfig, shown by `view`.

use anyhow::Context;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ListParams};
use tracejob_api::TraceJob;

use crate::args::{DescribeArgs, GetArgs};
use crate::cluster::{self, block_on};
use crate::view;

pub fn get(args: GetArgs) -> anyhow::Result<()> {
    block_on(async {
        let client = cluster::client().await?;
        let namespace = cluster::namespace_or_default(&client, args.namespace.as_deref());
        let api: Api<TraceJob> = if args.all_namespaces {
            Api::all(client)
        } else {
            Api::namespaced(client, &namespace)
        };
        let jobs = match &args.name {
            Some(name) => vec![
                api.get(name)
                    .await
                    .with_context(|| format!("cannot read TraceJob {namespace}/{name}"))?,
            ],
            None => {
                let where_ = if args.all_namespaces {
                    "any namespace".to_owned()
                } else {
                    format!("namespace {namespace}")
                };
                let mut jobs = api
                    .list(&ListParams::default())
                    .await
                    .with_context(|| format!("cannot list the TraceJobs of {where_}"))?
                    .items;
                if jobs.is_empty() {
                    eprintln!("No TraceJobs in {where_}.");
                    return Ok(());
                }
                jobs.sort_by_key(|j| (j.metadata.namespace.clone(), j.metadata.name.clone()));
                jobs
            }
        };
        print!(
            "{}",
            view::list(&jobs, args.all_namespaces, Timestamp::now())
        );
        Ok(())
    })
}

pub fn describe(args: DescribeArgs) -> anyhow::Result<()> {
    block_on(async {
        let client = cluster::client().await?;
        let namespace = cluster::namespace_or_default(&client, args.namespace.as_deref());
        let job = Api::<TraceJob>::namespaced(client, &namespace)
            .get(&args.name)
            .await
            .with_context(|| format!("cannot read TraceJob {namespace}/{}", args.name))?;
        print!("{}", view::describe(&job, Timestamp::now()));
        Ok(())
    })
}
