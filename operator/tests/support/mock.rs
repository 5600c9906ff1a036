//! A mocked API server: each request the reconciler makes is checked (method, path, body)
//! and answered as the API server would, with a timeout that catches a missing call.

use std::time::Duration;

use http::{Request, Response};
use kube::Client;
use kube::client::Body;
use serde_json::Value;
use tower_test::mock::{Handle, SendResponse};

pub struct ApiServer {
    handle: Handle<Request<Body>, Response<Body>>,
}

/// One request the reconciler made, waiting for its answer.
pub struct Exchange {
    pub uri: String,
    pub body: Value,
    send: SendResponse<Response<Body>>,
}

/// A client whose every request goes to the returned [`ApiServer`].
pub fn client() -> (Client, ApiServer) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    (Client::new(service, "default"), ApiServer { handle })
}

impl ApiServer {
    /// The next request, which must be `method` on a URI starting with `path`.
    pub async fn expect(&mut self, method: &str, path: &str) -> Exchange {
        let next = tokio::time::timeout(Duration::from_secs(5), self.handle.next_request()).await;
        let (request, send) = next
            .unwrap_or_else(|_| panic!("the reconciler made no request; expected {method} {path}"))
            .unwrap_or_else(|| panic!("the client went away; expected {method} {path}"));
        let uri = request.uri().to_string();
        assert_eq!(
            request.method().as_str(),
            method,
            "unexpected method for {uri}"
        );
        assert!(
            uri.starts_with(path),
            "expected {method} {path}, got {method} {uri}"
        );
        let bytes = request
            .into_body()
            .collect_bytes()
            .await
            .expect("a readable body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).expect("a JSON body")
        };
        Exchange { uri, body, send }
    }

    /// Expects the recorder to publish an event with this reason, and accepts it.
    pub async fn expect_event(&mut self, reason: &str) -> Value {
        let exchange = self
            .expect("POST", "/apis/events.k8s.io/v1/namespaces/")
            .await;
        assert_eq!(exchange.body["reason"], reason, "event: {}", exchange.body);
        let body = exchange.body.clone();
        exchange.respond(body.clone());
        body
    }
}

impl Exchange {
    pub fn respond(self, json: Value) {
        let bytes = serde_json::to_vec(&json).expect("serializable");
        let response = Response::builder()
            .body(Body::from(bytes))
            .expect("a response");
        self.send.send_response(response);
    }

    /// The status `object` would have after this merge patch.
    pub fn status_after(&self, object: &Value) -> Value {
        let mut status = object.get("status").cloned().unwrap_or(Value::Null);
        apply_merge_patch(&mut status, &self.body["status"]);
        status
    }

    /// Answers a status merge patch with the object it produces.
    pub fn respond_with_status(self, object: &Value) {
        let mut object = object.clone();
        object["status"] = self.status_after(&object);
        self.respond(object);
    }
}

/// RFC 7386.
fn apply_merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    let Value::Object(map) = target else { return };
    for (key, value) in patch {
        if value.is_null() {
            map.remove(key);
        } else {
            apply_merge_patch(map.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}
