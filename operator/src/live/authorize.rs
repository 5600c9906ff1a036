//! May the user see the job's events? Exactly when they may `get` the TraceJob: the API
//! server answers, through a SubjectAccessReview made with the user the front proxy named.

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::PostParams;
use kube::{Api, Client};

use super::front_proxy::User;

/// The review asked for `user` getting TraceJob `namespace/name`.
pub fn review(user: &User, namespace: &str, name: &str) -> SubjectAccessReview {
    SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(user.name.clone()),
            groups: Some(user.groups.clone()),
            extra: (!user.extra.is_empty()).then(|| user.extra.clone()),
            resource_attributes: Some(ResourceAttributes {
                namespace: Some(namespace.to_owned()),
                verb: Some("get".into()),
                group: Some("tracejob.io".into()),
                resource: Some("tracejobs".into()),
                name: Some(name.to_owned()),
                ..ResourceAttributes::default()
            }),
            ..SubjectAccessReviewSpec::default()
        },
        ..SubjectAccessReview::default()
    }
}

/// `Ok(None)` when allowed, `Ok(Some(why))` when not.
pub async fn may_get(
    client: Client,
    user: &User,
    namespace: &str,
    name: &str,
) -> Result<Option<String>, kube::Error> {
    let api: Api<SubjectAccessReview> = Api::all(client);
    let answer = api
        .create(&PostParams::default(), &review(user, namespace, name))
        .await?;
    let status = answer.status.unwrap_or_default();
    if status.allowed {
        return Ok(None);
    }
    let reason = status.reason.filter(|r| !r.is_empty());
    Ok(Some(format!(
        "user \"{}\" cannot get tracejobs.tracejob.io \"{name}\" in the namespace \"{namespace}\"{}: the live events of a TraceJob are shown to whoever may get it",
        user.name,
        reason.map(|r| format!(" ({r})")).unwrap_or_default()
    )))
}
