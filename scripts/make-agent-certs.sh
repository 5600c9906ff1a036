#!/usr/bin/env bash
# Makes the certificates for operator ↔ agent mutual TLS with openssl, into DIR:
#   ca.crt ca.key                 the tracejob CA (keep ca.key secret, or delete it)
#   agent.crt agent.key           the agents' server certificate (SAN: tracejob-agent + NAMES)
#   operator.crt operator.key     the operator's client certificate (SAN: tracejob-operator,
#                                 the only client name agents accept: --client-identity)
# Agent:    tracejob-agent --tls-cert agent.crt --tls-key agent.key --client-ca ca.crt \
#             --client-identity tracejob-operator
# Operator: tracejob-operator --agent-address 'https://{node}:7443' --agent-ca ca.crt \
#             --agent-client-cert operator.crt --agent-client-key operator.key \
#             --agent-tls-domain tracejob-agent
# Usage: scripts/make-agent-certs.sh DIR [extra DNS names for the agent certificate...]
set -euo pipefail
dir=${1:?usage: $0 DIR [agent DNS names...]}
shift
days=${DAYS:-365}
mkdir -p "$dir"
cd "$dir"

san="DNS:tracejob-agent"
for name in "$@"; do san="$san,DNS:$name"; done

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "$days" \
  -keyout ca.key -out ca.crt -subj "/CN=tracejob CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

leaf() { # name cn extendedKeyUsage subjectAltName
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$1.key" -out "$1.csr" -subj "/CN=$2" 2>/dev/null
  printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=%s\n%s\n' \
    "$3" "${4:+subjectAltName=$4}" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days "$days" \
    -extfile "$1.ext" -out "$1.crt" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}
leaf agent tracejob-agent serverAuth "$san"
leaf operator tracejob-operator clientAuth "DNS:tracejob-operator"
rm -f ca.srl
chmod 600 ./*.key
echo "wrote $(pwd)/{ca,agent,operator}.{crt,key}"
