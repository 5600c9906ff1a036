//! Who is asking: the Kubernetes API server authenticates the user and forwards the request
//! with the user in request headers (`X-Remote-User`, `X-Remote-Group`, `X-Remote-Extra-*`),
//! over TLS with its front-proxy client certificate. Those headers are believed only from a
//! connection whose certificate chains to the front proxy's CA (rustls checks that) and
//! whose common name is allowed, exactly as the API server's own configuration says in
//! `kube-system/extension-apiserver-authentication` (the metrics-server way).

use std::collections::BTreeMap;

use http::HeaderMap;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::{Api, Client};

const CONFIG_MAP_NAMESPACE: &str = "kube-system";
const CONFIG_MAP: &str = "extension-apiserver-authentication";

/// The API server's front-proxy settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrontProxy {
    /// PEM: the CA of the front proxy's client certificate.
    pub ca_pem: String,
    /// Common names allowed to act as the front proxy; empty allows any the CA signed.
    pub allowed_names: Vec<String>,
    pub username_headers: Vec<String>,
    pub group_headers: Vec<String>,
    pub extra_prefixes: Vec<String>,
}

/// A user as the API server authenticated them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

/// Why a request's user is not believed (HTTP 401).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Unauthenticated {
    #[error(
        "no client certificate from the front proxy's CA: requests come through the Kubernetes API server (tracejob logs, or kubectl get --raw)"
    )]
    NoProxyCertificate,
    #[error("the client certificate's common name {0:?} is not an allowed front proxy")]
    NotAllowed(Option<String>),
    #[error("the front proxy named no user")]
    NoUser,
}

impl FrontProxy {
    /// Reads the API server's own configuration.
    pub async fn from_cluster(client: Client) -> Result<Self, String> {
        let api: Api<ConfigMap> = Api::namespaced(client, CONFIG_MAP_NAMESPACE);
        let map = api
            .get(CONFIG_MAP)
            .await
            .map_err(|e| format!("cannot read {CONFIG_MAP_NAMESPACE}/{CONFIG_MAP}: {e}"))?;
        Self::from_config_map(&map.data.unwrap_or_default())
    }

    pub fn from_config_map(data: &BTreeMap<String, String>) -> Result<Self, String> {
        let list = |key: &str| -> Result<Vec<String>, String> {
            data.get(key).map_or(Ok(Vec::new()), |json| {
                serde_json::from_str(json).map_err(|e| format!("{CONFIG_MAP} {key}: {e}"))
            })
        };
        let ca_pem = data.get("requestheader-client-ca-file").cloned().ok_or_else(|| {
            format!(
                "{CONFIG_MAP_NAMESPACE}/{CONFIG_MAP} has no requestheader-client-ca-file: start kube-apiserver with --requestheader-client-ca-file and --proxy-client-cert-file to serve aggregated APIs"
            )
        })?;
        Ok(FrontProxy {
            ca_pem,
            allowed_names: list("requestheader-allowed-names")?,
            username_headers: list("requestheader-username-headers")?,
            group_headers: list("requestheader-group-headers")?,
            extra_prefixes: list("requestheader-extra-headers-prefix")?,
        })
    }

    /// The user of a request that came over a connection whose verified client
    /// certificate has `common_name` (`None`: no verified certificate).
    pub fn user(
        &self,
        verified: Option<Option<&str>>,
        headers: &HeaderMap,
    ) -> Result<User, Unauthenticated> {
        let common_name = verified.ok_or(Unauthenticated::NoProxyCertificate)?;
        if !self.allowed_names.is_empty()
            && !common_name.is_some_and(|cn| self.allowed_names.iter().any(|n| n == cn))
        {
            return Err(Unauthenticated::NotAllowed(common_name.map(str::to_owned)));
        }
        let values = |name: &str| {
            headers
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        let name = self
            .username_headers
            .iter()
            .find_map(|h| values(h).into_iter().find(|v| !v.is_empty()))
            .ok_or(Unauthenticated::NoUser)?;
        let groups = self.group_headers.iter().flat_map(|h| values(h)).collect();
        let mut extra = BTreeMap::<String, Vec<String>>::new();
        for (header, value) in headers {
            let lower = header.as_str();
            let Some(key) = self
                .extra_prefixes
                .iter()
                .find_map(|prefix| lower.strip_prefix(prefix.to_ascii_lowercase().as_str()))
            else {
                continue;
            };
            if let Ok(value) = value.to_str() {
                extra
                    .entry(percent_decoded(key).to_ascii_lowercase())
                    .or_default()
                    .push(value.to_owned());
            }
        }
        Ok(User {
            name,
            groups,
            extra,
        })
    }
}

/// Extra keys travel percent-encoded in header names (the API server's convention).
fn percent_decoded(key: &str) -> String {
    let bytes = key.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxy(allowed: &[&str]) -> FrontProxy {
        let data = BTreeMap::from([
            ("requestheader-client-ca-file".into(), "PEM".into()),
            (
                "requestheader-allowed-names".into(),
                serde_json::to_string(allowed).unwrap(),
            ),
            (
                "requestheader-username-headers".into(),
                r#"["X-Remote-User"]"#.into(),
            ),
            (
                "requestheader-group-headers".into(),
                r#"["X-Remote-Group"]"#.into(),
            ),
            (
                "requestheader-extra-headers-prefix".into(),
                r#"["X-Remote-Extra-"]"#.into(),
            ),
        ]);
        FrontProxy::from_config_map(&data).unwrap()
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        map
    }

    #[test]
    fn the_user_groups_and_extra_come_from_the_proxy_headers() {
        let request = headers(&[
            ("x-remote-user", "alice"),
            ("x-remote-group", "dev"),
            ("x-remote-group", "system:authenticated"),
            ("x-remote-extra-scopes%2fa", "x"),
        ]);
        let user = proxy(&["front-proxy-client"])
            .user(Some(Some("front-proxy-client")), &request)
            .unwrap();
        assert_eq!(user.name, "alice");
        assert_eq!(user.groups, ["dev", "system:authenticated"]);
        assert_eq!(user.extra["scopes/a"], ["x"]);
    }

    #[test]
    fn headers_are_not_believed_without_the_proxy_certificate_or_from_another_name() {
        let forged = headers(&[("x-remote-user", "system:admin")]);
        let proxy = proxy(&["front-proxy-client"]);
        assert_eq!(
            proxy.user(None, &forged),
            Err(Unauthenticated::NoProxyCertificate)
        );
        assert_eq!(
            proxy.user(Some(Some("tracejob-agent")), &forged),
            Err(Unauthenticated::NotAllowed(Some("tracejob-agent".into())))
        );
        assert_eq!(
            proxy.user(Some(None), &forged),
            Err(Unauthenticated::NotAllowed(None))
        );
        assert_eq!(
            proxy.user(Some(Some("front-proxy-client")), &headers(&[])),
            Err(Unauthenticated::NoUser)
        );
    }

    #[test]
    fn no_allowed_names_accepts_any_certificate_of_the_ca() {
        let request = headers(&[("x-remote-user", "bob")]);
        assert_eq!(proxy(&[]).user(Some(None), &request).unwrap().name, "bob");
    }

    #[test]
    fn an_api_server_without_a_front_proxy_is_named() {
        let error = FrontProxy::from_config_map(&BTreeMap::new()).unwrap_err();
        assert!(error.contains("--requestheader-client-ca-file"), "{error}");
    }
}
