"""Checks the chart's certificates as rendered: with cert-manager (first file) three
Certificates, the agents' for server auth only, the operator's for client auth only and the
live API's for server auth only (with its CA injected into the APIService), into the Secrets
the pods mount, and no Secrets of the chart's own; with the defaults (second file) no
Certificate at all."""
import sys

import yaml


def objects(path):
    return [d for d in yaml.safe_load_all(open(path)) if d]


def fail(message):
    sys.exit(f"check-certificates: {message}")


cert_manager, default = objects(sys.argv[1]), objects(sys.argv[2])
certificates = {c["metadata"]["name"]: c["spec"] for c in cert_manager if c["kind"] == "Certificate"}
if len(certificates) != 3:
    fail(f"expected 3 Certificates with cert-manager, got {sorted(certificates)}")
if any(o["kind"] == "Secret" for o in cert_manager):
    fail("with cert-manager the chart must render no Secret of its own")
mounted = {
    v["secret"]["secretName"]
    for o in cert_manager
    if o["kind"] in ("DaemonSet", "Deployment")
    for v in o["spec"]["template"]["spec"].get("volumes", [])
    if "secret" in v
}
for name, spec in certificates.items():
    if spec["secretName"] not in mounted:
        fail(f"{name} issues {spec['secretName']}, which no pod mounts ({sorted(mounted)})")
    auth = {u for u in spec["usages"] if u.endswith(" auth")}
    serves = spec["dnsNames"] == ["tracejob-agent"] or name.endswith("-live-tls")
    expected = {"server auth"} if serves else {"client auth"}
    if auth != expected:
        fail(f"{name}: usages {sorted(auth)}, expected {sorted(expected)} only")
apiservice = next(o for o in cert_manager if o["kind"] == "APIService")
injected = apiservice["metadata"].get("annotations", {}).get("cert-manager.io/inject-ca-from", "")
if not injected.endswith("-live-tls") or injected.split("/")[-1] not in certificates:
    fail(f"the APIService's CA must be injected from the live API's Certificate, not {injected!r}")
if any(o["kind"] == "Certificate" for o in default):
    fail("the default values must render no Certificate")
print("check-certificates: cert-manager issues server-only agent and live API certificates and a client-only operator certificate")
