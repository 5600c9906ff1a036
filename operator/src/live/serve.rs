//! The live API over HTTPS: discovery for the API server's aggregator, and each job's
//! live events as JSON lines, to users the front proxy names and the API server allows.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::{StreamExt, stream};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody, combinators::UnsyncBoxBody};
use hyper::body::{Bytes, Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tracejob_api::TraceJob;
use tracejob_api::live::{GROUP, Notice, NoticeKind, VERSION};

use super::authorize::may_get;
use super::cert_name::common_name;
use super::front_proxy::{FrontProxy, User};
use super::hub::{KEPT_BYTES, Line, LiveHub, Subscription};
use super::routes::{Query, Route, query, route};

type Body = UnsyncBoxBody<Bytes, Infallible>;

/// A TLS handshake, or a request's headers, that take longer are dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once; more wait to be accepted. Only the API server should
/// connect, but the port is reachable from the cluster's network.
const MAX_CONNECTIONS: usize = 1024;
/// Event streams served at once; more are refused with 429 (each follower holds a task and
/// up to [`super::hub::FOLLOW_LINES`] lines).
pub const MAX_READERS: usize = 256;

pub struct LiveApi {
    client: Client,
    hub: Arc<LiveHub>,
    proxy: FrontProxy,
    readers: Arc<Semaphore>,
    /// The one namespace the operator acts on (`--watch-namespace`), if it is limited.
    watching: Option<String>,
}

impl std::fmt::Debug for LiveApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveApi")
            .field("proxy", &self.proxy)
            .finish_non_exhaustive()
    }
}

/// Serves until the listener fails.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    api: Arc<LiveApi>,
) -> std::io::Result<()> {
    let acceptor = TlsAcceptor::from(tls);
    let connections = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(connection) = connections.clone().acquire_owned().await else {
            return Ok(());
        };
        let (tcp, _) = listener.accept().await?;
        let (acceptor, api) = (acceptor.clone(), api.clone());
        tokio::spawn(async move {
            let _connection = connection;
            let Ok(Ok(tls)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await
            else {
                return;
            };
            // Some(..) only for a certificate rustls verified against the front proxy's CA.
            let verified: Option<Option<String>> = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .map(|leaf| common_name(leaf));
            let service = service_fn(move |request| {
                let (api, verified) = (api.clone(), verified.clone());
                async move {
                    let verified = verified.as_ref().map(Option::as_deref);
                    Ok::<_, Infallible>(api.respond(request, verified).await)
                }
            });
            if let Err(error) = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HANDSHAKE_TIMEOUT)
                .serve_connection(TokioIo::new(tls), service)
                .await
            {
                tracing::debug!(%error, "live API connection ended");
            }
        });
    }
}

impl LiveApi {
    pub fn new(client: Client, hub: Arc<LiveHub>, proxy: FrontProxy) -> Self {
        LiveApi {
            client,
            hub,
            proxy,
            readers: Arc::new(Semaphore::new(MAX_READERS)),
            watching: None,
        }
    }

    /// The operator acts on `namespace` only: a job elsewhere never streams here.
    pub fn watching(mut self, namespace: Option<String>) -> Self {
        self.watching = namespace;
        self
    }

    /// At most `readers` event streams at once.
    pub fn with_max_readers(mut self, readers: usize) -> Self {
        self.readers = Arc::new(Semaphore::new(readers));
        self
    }

    async fn respond(
        &self,
        request: Request<Incoming>,
        verified: Option<Option<&str>>,
    ) -> Response<Body> {
        if request.method() != Method::GET {
            return status(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "only GET is served",
            );
        }
        let user = match self.proxy.user(verified, request.headers()) {
            Ok(user) => Some(user),
            // Discovery needs only the front proxy; events need a user.
            Err(super::front_proxy::Unauthenticated::NoUser) => None,
            Err(refused) => {
                return status(
                    StatusCode::UNAUTHORIZED,
                    "Unauthorized",
                    &refused.to_string(),
                );
            }
        };
        match route(request.uri().path()) {
            Some(Route::Group) => json_response(&json!({
                "kind": "APIGroup", "apiVersion": "v1", "name": GROUP,
                "versions": [{"groupVersion": format!("{GROUP}/{VERSION}"), "version": VERSION}],
                "preferredVersion": {"groupVersion": format!("{GROUP}/{VERSION}"), "version": VERSION},
            })),
            Some(Route::Resources) => json_response(&json!({
                "kind": "APIResourceList", "apiVersion": "v1",
                "groupVersion": format!("{GROUP}/{VERSION}"),
                "resources": [{"name": "tracejobs/log", "singularName": "", "namespaced": true,
                               "kind": "TraceJobLog", "verbs": ["get"]}],
            })),
            Some(Route::Log { namespace, name }) => {
                let Some(user) = user else {
                    return status(
                        StatusCode::UNAUTHORIZED,
                        "Unauthorized",
                        "the front proxy named no user",
                    );
                };
                match query(request.uri().query()) {
                    Ok(query) => self.log(&user, &namespace, &name, &query).await,
                    Err(problem) => status(StatusCode::BAD_REQUEST, "BadRequest", &problem),
                }
            }
            None => status(
                StatusCode::NOT_FOUND,
                "NotFound",
                &format!(
                    "no such path: {} (served: {})",
                    request.uri().path(),
                    tracejob_api::live::log_path("NAMESPACE", "NAME")
                ),
            ),
        }
    }

    async fn log(&self, user: &User, namespace: &str, name: &str, query: &Query) -> Response<Body> {
        // Authorized before anything is looked up: a refused user learns nothing of the job.
        match may_get(self.client.clone(), user, namespace, name).await {
            Ok(None) => {}
            Ok(Some(why)) => return status(StatusCode::FORBIDDEN, "Forbidden", &why),
            Err(error) => {
                return status(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ServiceUnavailable",
                    &format!(
                        "cannot ask the API server whether {} may get the job: {error}",
                        user.name
                    ),
                );
            }
        }
        if let Some(why) = unwatched(self.watching.as_deref(), namespace) {
            return status(StatusCode::NOT_FOUND, "NotFound", &why);
        }
        let jobs: Api<TraceJob> = Api::namespaced(self.client.clone(), namespace);
        let job = match jobs.get_opt(name).await {
            Ok(Some(job)) => job,
            Ok(None) => {
                return status(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    &format!(
                        "tracejobs.tracejob.io \"{name}\" not found in the namespace \"{namespace}\""
                    ),
                );
            }
            Err(error) => {
                return status(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ServiceUnavailable",
                    &format!("cannot read the TraceJob: {error}"),
                );
            }
        };
        let uid = job.uid().unwrap_or_default();
        let finished = job
            .status
            .as_ref()
            .and_then(|s| s.phase)
            .is_some_and(|p| p.is_finished());
        if finished && !self.hub.knows(&uid) {
            return status(
                StatusCode::GONE,
                "Gone",
                &format!(
                    "TraceJob {namespace}/{name} has finished and its live view ended with it; its events are in object storage: tracejob results {name} -n {namespace} --dir DIR"
                ),
            );
        }
        let Ok(reader) = self.readers.clone().try_acquire_owned() else {
            return status(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                "the operator serves as many event streams as it allows at once: try again when one ends",
            );
        };
        let subscription = self.hub.subscribe(&uid);
        let mut response = Response::new(body(subscription, query, finished, reader));
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/x-ndjson"),
        );
        response
    }
}

/// Why a job in `namespace` has no live view here, when the operator acts on another
/// namespace only (a follower would otherwise wait for events that never come).
fn unwatched(watching: Option<&str>, namespace: &str) -> Option<String> {
    let only = watching.filter(|w| *w != namespace)?;
    Some(format!(
        "this operator traces only the TraceJobs of the namespace \"{only}\" (--watch-namespace): those in \"{namespace}\" do not run"
    ))
}

/// The kept lines (since the cutoff), then, when following a running job, every new line
/// until the job ends; what is not shown is said in a notice.
fn body(
    subscription: Subscription,
    query: &Query,
    finished: bool,
    reader: OwnedSemaphorePermit,
) -> Body {
    let Subscription {
        kept,
        not_kept,
        follow,
    } = subscription;
    let cutoff = query
        .since_seconds
        .and_then(|s| SystemTime::now().checked_sub(Duration::from_secs(s)));
    let oldest_in_window = kept
        .first()
        .is_none_or(|l| cutoff.is_none_or(|c| l.received >= c));
    let mut head = Vec::new();
    if not_kept > 0 && oldest_in_window {
        head.push(notice(NoticeKind::NotKept, not_kept, format!(
            "{not_kept} earlier events are no longer kept for the live view (the operator keeps the last {} KiB of each job); object storage has every event", KEPT_BYTES / 1024
        )));
    }
    head.extend(
        kept.iter()
            .filter(|l| cutoff.is_none_or(|c| l.received >= c))
            .map(|l| line_bytes(l)),
    );
    let end = || {
        notice(
            NoticeKind::End,
            0,
            "the job stopped: nothing more follows".into(),
        )
    };
    let head = stream::iter(head);
    if !query.follow || finished {
        let tail = finished.then(end);
        return boxed(head.chain(stream::iter(tail)), reader);
    }
    let tail = stream::unfold(
        Some(follow),
        move |receiver: Option<broadcast::Receiver<Arc<Line>>>| async move {
            let mut receiver = receiver?;
            match receiver.recv().await {
                Ok(line) => Some((line_bytes(&line), Some(receiver))),
                Err(RecvError::Lagged(skipped)) => Some((
                    notice(
                        NoticeKind::Skipped,
                        skipped,
                        format!(
                            "this reader fell behind and skipped {skipped} events (they still go to object storage)"
                        ),
                    ),
                    Some(receiver),
                )),
                Err(RecvError::Closed) => Some((end(), None)),
            }
        },
    );
    boxed(head.chain(tail), reader)
}

/// The response body; `reader` is given back when it ends or the client goes.
fn boxed(
    lines: impl futures::Stream<Item = Bytes> + Send + 'static,
    reader: OwnedSemaphorePermit,
) -> Body {
    let frames = lines.map(move |bytes| {
        let _held = &reader;
        Ok::<_, Infallible>(Frame::data(bytes))
    });
    StreamBody::new(frames).boxed_unsync()
}

fn line_bytes(line: &Line) -> Bytes {
    let mut bytes = Vec::with_capacity(line.json.len() + 1);
    bytes.extend_from_slice(line.json.as_bytes());
    bytes.push(b'\n');
    Bytes::from(bytes)
}

fn notice(kind: NoticeKind, events: u64, message: String) -> Bytes {
    let notice = Notice {
        notice: kind,
        events,
        node: None,
        message,
    };
    let mut json = serde_json::to_vec(&notice).unwrap_or_default();
    json.push(b'\n');
    Bytes::from(json)
}

fn json_response(value: &serde_json::Value) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(value.to_string())).boxed_unsync());
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

/// A Kubernetes `Status`, which kubectl and client libraries show by its message.
fn status(code: StatusCode, reason: &str, message: &str) -> Response<Body> {
    let mut response = json_response(&json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code.as_u16(),
    }));
    *response.status_mut() = code;
    response
}

#[cfg(test)]
mod tests {
    use super::unwatched;

    #[test]
    fn a_job_outside_the_watched_namespace_is_answered_at_once() {
        assert_eq!(unwatched(None, "shop"), None);
        assert_eq!(unwatched(Some("shop"), "shop"), None);
        let why = unwatched(Some("shop"), "other").expect("refused");
        assert!(
            why.contains("\"shop\"") && why.contains("\"other\""),
            "{why}"
        );
    }
}
