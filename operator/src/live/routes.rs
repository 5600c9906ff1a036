//! The paths the live API answers, parsed strictly: a namespace and a name are what
//! Kubernetes allows for them, or the request is refused before anything is asked.

use tracejob_api::live::{GROUP, VERSION};

#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// `/apis/live.tracejob.io`: the group, for discovery.
    Group,
    /// `/apis/live.tracejob.io/v1alpha1`: its resources, for discovery.
    Resources,
    /// A job's live events.
    Log { namespace: String, name: String },
}

#[derive(Debug, PartialEq, Eq)]
pub struct Query {
    pub follow: bool,
    pub since_seconds: Option<u64>,
}

pub fn route(path: &str) -> Option<Route> {
    let rest = path.strip_prefix("/apis/")?.strip_prefix(GROUP)?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() {
        return Some(Route::Group);
    }
    let rest = rest.strip_prefix('/')?.strip_prefix(VERSION)?;
    if rest.is_empty() {
        return Some(Route::Resources);
    }
    let parts: Vec<&str> = rest.strip_prefix('/')?.split('/').collect();
    match parts.as_slice() {
        ["namespaces", namespace, "tracejobs", name, "log"]
            if is_label(namespace) && is_subdomain(name) =>
        {
            Some(Route::Log {
                namespace: (*namespace).to_owned(),
                name: (*name).to_owned(),
            })
        }
        _ => None,
    }
}

/// `follow` and `sinceSeconds`, as for a pod's logs.
pub fn query(query: Option<&str>) -> Result<Query, String> {
    let mut parsed = Query {
        follow: false,
        since_seconds: None,
    };
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "follow" => {
                parsed.follow = match value {
                    "" | "true" | "1" => true,
                    "false" | "0" => false,
                    _ => return Err(format!("follow={value:?}: write true or false")),
                }
            }
            "sinceSeconds" => {
                let seconds = value
                    .parse::<u64>()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| {
                        format!("sinceSeconds={value:?}: write a whole number of seconds above 0")
                    })?;
                parsed.since_seconds = Some(seconds);
            }
            _ => {}
        }
    }
    Ok(parsed)
}

/// A DNS-1123 label (a namespace's name).
fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A DNS-1123 subdomain (a TraceJob's name).
fn is_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_path_names_a_namespace_and_a_job() {
        assert_eq!(
            route("/apis/live.tracejob.io/v1alpha1/namespaces/shop/tracejobs/web.exec-1/log"),
            Some(Route::Log {
                namespace: "shop".into(),
                name: "web.exec-1".into()
            })
        );
        assert_eq!(
            route("/apis/live.tracejob.io/v1alpha1"),
            Some(Route::Resources)
        );
        assert_eq!(route("/apis/live.tracejob.io/"), Some(Route::Group));
    }

    #[test]
    fn strange_paths_are_not_routes() {
        for path in [
            "/apis/live.tracejob.io/v1alpha1/namespaces/shop/tracejobs/../log",
            "/apis/live.tracejob.io/v1alpha1/namespaces/Shop/tracejobs/a/log",
            "/apis/live.tracejob.io/v1alpha1/namespaces/shop/tracejobs/a%2fb/log",
            "/apis/live.tracejob.io/v1alpha1/namespaces//tracejobs/a/log",
            "/apis/live.tracejob.io/v1alpha1/namespaces/shop/tracejobs/a/log/x",
            "/apis/live.tracejob.io/v1alpha1/namespaces/shop/tracejobs/a/exec",
            "/apis/live.tracejob.io.evil/v1alpha1",
            "/apis/live.tracejob.io/v1alpha2",
            "/api/v1/namespaces/shop/pods/a/log",
        ] {
            assert_eq!(route(path), None, "{path}");
        }
        let long = "a".repeat(64);
        let path = format!("/apis/live.tracejob.io/v1alpha1/namespaces/{long}/tracejobs/a/log");
        assert_eq!(route(&path), None);
    }

    #[test]
    fn follow_and_since_are_read_like_a_pods_logs() {
        assert_eq!(
            query(Some("follow=true&sinceSeconds=30")),
            Ok(Query {
                follow: true,
                since_seconds: Some(30)
            })
        );
        assert_eq!(query(None).map(|q| q.follow), Ok(false));
        for bad in [
            "follow=yes",
            "sinceSeconds=-1",
            "sinceSeconds=0",
            "sinceSeconds=99999999999999999999",
        ] {
            assert!(query(Some(bad)).is_err(), "{bad}");
        }
    }
}
