//! The API server's own count of the requests it served (`apiserver_request_total`), read
//! before and after a phase: requests per second by verb and resource.

use std::collections::BTreeMap;

use kube::Client;

/// (verb, resource[/subresource]) → requests served.
pub type Requests = BTreeMap<(String, String), f64>;

pub async fn requests(client: &Client) -> anyhow::Result<Requests> {
    let request = http::Request::get("/metrics").body(Vec::new())?;
    let text = client.request_text(request).await?;
    Ok(parse(&text))
}

pub fn parse(text: &str) -> Requests {
    let mut out = Requests::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("apiserver_request_total{") else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once("} ") else {
            continue;
        };
        let Ok(value) = value.trim().parse::<f64>() else {
            continue;
        };
        let label = |name: &str| {
            labels
                .split("\",")
                .find_map(|kv| kv.strip_prefix(&format!("{name}=\"")))
                .map(|v| v.trim_end_matches('"').to_owned())
                .unwrap_or_default()
        };
        let mut resource = label("resource");
        let sub = label("subresource");
        if !sub.is_empty() {
            resource = format!("{resource}/{sub}");
        }
        *out.entry((label("verb"), resource)).or_default() += value;
    }
    out
}

/// What `after` adds to `before`.
pub fn delta(before: &Requests, after: &Requests) -> Requests {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0.0)))
        .filter(|(_, v)| *v > 0.0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_summed_by_verb_and_resource_with_the_subresource() {
        let text = r#"# HELP apiserver_request_total x
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="pods",scope="namespace",subresource="",verb="LIST",version="v1"} 7
apiserver_request_total{code="500",component="apiserver",dry_run="",group="",resource="pods",scope="namespace",subresource="",verb="LIST",version="v1"} 1
apiserver_request_total{code="200",component="apiserver",dry_run="",group="tracejob.io",resource="tracejobs",scope="resource",subresource="status",verb="PATCH",version="v1alpha1"} 3
"#;
        let requests = parse(text);
        assert_eq!(requests[&("LIST".into(), "pods".into())], 8.0);
        assert_eq!(requests[&("PATCH".into(), "tracejobs/status".into())], 3.0);
    }
}
