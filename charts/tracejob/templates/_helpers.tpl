{{/* Names: "<release>" when the release is called tracejob, else "<release>-tracejob". */}}
{{- define "tracejob.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "tracejob.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "tracejob.operator.fullname" -}}
{{- printf "%s-operator" (include "tracejob.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "tracejob.agent.fullname" -}}
{{- printf "%s-agent" (include "tracejob.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "tracejob.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "tracejob.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: tracejob
{{- end }}

{{/* Selector labels of one component ("operator" or "agent"). */}}
{{- define "tracejob.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tracejob.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "tracejob.operator.image" -}}
{{- printf "%s:%s" .Values.operator.image.repository (default .Chart.AppVersion .Values.operator.image.tag) }}
{{- end }}

{{- define "tracejob.agent.image" -}}
{{- printf "%s:%s" .Values.agent.image.repository (default .Chart.AppVersion .Values.agent.image.tag) }}
{{- end }}

{{- define "tracejob.tls.agentSecret" -}}
{{- printf "%s-agent-tls" (include "tracejob.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "tracejob.tls.operatorSecret" -}}
{{- printf "%s-operator-tls" (include "tracejob.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The mutual-TLS material, as a dict of PEM strings: ca, agentCert, agentKey, operatorCert,
operatorKey. The agents' certificate names tracejob-agent, the operator's tls.operatorName:
agents accept only the latter as a client (--client-identity), so an agent's key, present on
every node, cannot drive other agents. Reused from the release's Secrets when both exist (upgrades keep the
certificates running agents and operators hold), else generated. Computed once per render
and kept in .Values so the Secrets and the pods' checksum annotations agree.
*/}}
{{- define "tracejob.tls.material" -}}
{{- if not (hasKey .Values "__tlsMaterial") }}
{{- $agent := lookup "v1" "Secret" .Release.Namespace (include "tracejob.tls.agentSecret" .) }}
{{- $operator := lookup "v1" "Secret" .Release.Namespace (include "tracejob.tls.operatorSecret" .) }}
{{- $material := dict }}
{{- if and $agent $operator $agent.data $operator.data (hasKey $agent.data "tls.crt") (hasKey $operator.data "tls.crt") }}
{{- $_ := set $material "ca" (index $agent.data "ca.crt" | b64dec) }}
{{- $_ := set $material "agentCert" (index $agent.data "tls.crt" | b64dec) }}
{{- $_ := set $material "agentKey" (index $agent.data "tls.key" | b64dec) }}
{{- $_ := set $material "operatorCert" (index $operator.data "tls.crt" | b64dec) }}
{{- $_ := set $material "operatorKey" (index $operator.data "tls.key" | b64dec) }}
{{- else }}
{{- $days := int .Values.tls.validityDays }}
{{- $ca := genCA "tracejob-ca" $days }}
{{- $agentCert := genSignedCert "tracejob-agent" nil (list "tracejob-agent") $days $ca }}
{{- $operatorCert := genSignedCert .Values.tls.operatorName nil (list .Values.tls.operatorName) $days $ca }}
{{- $_ := set $material "ca" $ca.Cert }}
{{- $_ := set $material "agentCert" $agentCert.Cert }}
{{- $_ := set $material "agentKey" $agentCert.Key }}
{{- $_ := set $material "operatorCert" $operatorCert.Cert }}
{{- $_ := set $material "operatorKey" $operatorCert.Key }}
{{- end }}
{{- $_ := set .Values "__tlsMaterial" $material }}
{{- end }}
{{- toJson (index .Values "__tlsMaterial") }}
{{- end }}
