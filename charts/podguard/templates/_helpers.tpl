{{/* Names are truncated to 63 characters: the limit of a label value and a DNS label. */}}
{{- define "podguard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "podguard.fullname" -}}
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

{{- define "podguard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "podguard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of the helm test objects: none of podguard's selectors matches them. */}}
{{- define "podguard.testLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "podguard.name" . | trunc 58 }}-test
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: test
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "podguard.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "podguard.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "podguard.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "podguard.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "podguard.image" -}}
{{- $repository := .Values.image.repository }}
{{- with .Values.image.registry }}
{{- $repository = printf "%s/%s" . $repository }}
{{- end }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The namespace of the helm test's dry-run Pods: tests.namespace, or one of its own. */}}
{{- define "podguard.testNamespace" -}}
{{- .Values.tests.namespace | default (printf "%s-test" (include "podguard.fullname" . | trunc 58 | trimSuffix "-")) }}
{{- end }}

{{- define "podguard.tlsSecretName" -}}
{{- if has .Values.tls.mode (list "certManager" "helm") }}
{{- printf "%s-tls" (include "podguard.fullname" .) }}
{{- else }}
{{- .Values.tls.secretName }}
{{- end }}
{{- end }}

{{/* The serving Certificate; cert-manager's cainjector copies its CA into the webhooks. */}}
{{- define "podguard.certificateName" -}}
{{- printf "%s-tls" (include "podguard.fullname" .) }}
{{- end }}

{{- define "podguard.maxReplicas" -}}
{{- if .Values.autoscaling.enabled }}
{{- max .Values.autoscaling.maxReplicas .Values.replicaCount | int }}
{{- else }}
{{- .Values.replicaCount | int }}
{{- end }}
{{- end }}

{{/*
Webhook registration shared by the validating and the mutating webhook. Everything here
is decided by the API server before it calls podguard, so it holds even when podguard is
down: the excluded namespaces are matched by kubernetes.io/metadata.name, a label that
the API server sets and namespace editors cannot change.
*/}}
{{- define "podguard.webhookCommon" -}}
admissionReviewVersions: [v1]
sideEffects: None
matchPolicy: Equivalent
failurePolicy: {{ include "podguard.failurePolicy" . }}
timeoutSeconds: {{ .root.Values.webhook.timeoutSeconds }}
namespaceSelector:
  {{- with .root.Values.webhook.namespaceSelector.matchLabels }}
  matchLabels:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  matchExpressions:
    - key: kubernetes.io/metadata.name
      operator: NotIn
      values:
        - kube-system
        - kube-public
        - kube-node-lease
        - {{ .root.Release.Namespace }}
        {{- range .root.Values.webhook.excludedNamespaces }}
        - {{ . }}
        {{- end }}
    {{- with .root.Values.webhook.namespaceSelector.matchExpressions }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- with .root.Values.webhook.objectSelector }}
objectSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .root.Values.webhook.matchConditions }}
matchConditions:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
The failurePolicy a configuration is applied with. Ignore, unless webhook.failurePolicy
is Fail and the live configuration already has Fail on every webhook, with the caBundle
being rendered (a new CA goes in with Ignore, until the replicas serve a certificate it
verifies): podguard's ready replicas turn Ignore into Fail (podguard serve
--webhook-configuration) only once the API server can verify them, so a podguard that
never starts refuses nothing, and an upgrade keeps the Fail they set. Without a cluster
(helm template) lookup finds nothing.
*/}}
{{- define "podguard.failurePolicy" -}}
{{- $policy := "Ignore" }}
{{- if eq .root.Values.webhook.failurePolicy "Fail" }}
{{- $live := lookup "admissionregistration.k8s.io/v1" .kind "" (include "podguard.fullname" .root) }}
{{- $hooks := dig "webhooks" list $live }}
{{- if $hooks }}
{{- $policy = "Fail" }}
{{- range $hooks }}
{{- if ne (.failurePolicy | default "") "Fail" }}
{{- $policy = "Ignore" }}
{{- end }}
{{- if and $.caBundle (ne (dig "clientConfig" "caBundle" "" .) $.caBundle) }}
{{- $policy = "Ignore" }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- $policy }}
{{- end }}

{{/* Annotations of both webhook configurations: the user's, the failurePolicy podguard
sets once ready, and cert-manager's CA injection in tls.mode certManager. */}}
{{- define "podguard.webhookAnnotations" -}}
{{- $a := deepCopy .Values.webhook.annotations }}
{{- $_ := set $a "podguard.io/failure-policy" .Values.webhook.failurePolicy }}
{{- if eq .Values.tls.mode "certManager" }}
{{- $_ := set $a "cert-manager.io/inject-ca-from" (printf "%s/%s" .Release.Namespace (include "podguard.certificateName" .)) }}
{{- end }}
{{- with $a }}
{{- dict "annotations" . | toYaml }}
{{- end }}
{{- end }}

{{- define "podguard.clientConfig" -}}
clientConfig:
  service:
    name: {{ include "podguard.fullname" .root }}
    namespace: {{ .root.Release.Namespace }}
    path: {{ .path }}
    port: 443
  {{- with .caBundle }}
  caBundle: {{ . }}
  {{- end }}
{{- end }}

{{/*
Checks of values that the schema cannot express; rendering stops with the reason.
*/}}
{{- define "podguard.validate" -}}
{{- if not (lt (float64 .Values.server.evalTimeoutSeconds) (float64 .Values.webhook.timeoutSeconds)) }}
{{- fail (printf "server.evalTimeoutSeconds (%v) must be below webhook.timeoutSeconds (%v): podguard must answer before the API server gives up on it" .Values.server.evalTimeoutSeconds .Values.webhook.timeoutSeconds) }}
{{- end }}
{{- if not (lt (float64 .Values.server.shutdownDelaySeconds) (float64 .Values.terminationGracePeriodSeconds)) }}
{{- fail (printf "terminationGracePeriodSeconds (%v) must exceed server.shutdownDelaySeconds (%v), or Pods are killed while they still serve" .Values.terminationGracePeriodSeconds .Values.server.shutdownDelaySeconds) }}
{{- end }}
{{- if eq .Values.tls.mode "secret" }}
{{- if not .Values.tls.secretName }}
{{- fail "tls.mode secret needs tls.secretName: the kubernetes.io/tls Secret podguard serves" }}
{{- end }}
{{- if not (contains "-----BEGIN CERTIFICATE-----" .Values.tls.caBundle) }}
{{- fail "tls.mode secret needs tls.caBundle: the PEM of the CA that signed tls.secretName's certificate" }}
{{- end }}
{{- end }}
{{- if eq .Values.image.tag "latest" }}
{{- fail "image.tag latest: a moving tag, which podguard's own image-tag rule refuses; give a version (empty means the chart's appVersion) or image.digest" }}
{{- end }}
{{- if and .Values.hostNetwork (eq (int .Values.webhook.port) 10250) }}
{{- fail "hostNetwork: webhook.port 10250 is the kubelet's port on every node; choose another (e.g. 10260) that the control plane may reach" }}
{{- end }}
{{- $ports := dict "webhook.port" (int .Values.webhook.port) "metrics.port" (include "podguard.metricsPort" . | int) "health.port" (int .Values.health.port) }}
{{- range $a, $pa := $ports }}
{{- range $b, $pb := $ports }}
{{- if and (lt $a $b) (eq $pa $pb) }}
{{- fail (printf "%s and %s are both %d: podguard listens on each separately" $a $b $pa) }}
{{- end }}
{{- end }}
{{- if and $.Values.hostNetwork (eq $pa 10250) (ne $a "webhook.port") }}
{{- fail (printf "hostNetwork: %s 10250 is the kubelet's port on every node; choose another" $a) }}
{{- end }}
{{- end }}
{{- if and .Values.webhook.matchConditions (not (semverCompare ">=1.30.0-0" .Capabilities.KubeVersion.Version)) }}
{{- fail (printf "webhook.matchConditions need Kubernetes 1.30 or newer; this cluster is %s" .Capabilities.KubeVersion.Version) }}
{{- end }}
{{- $sm := .Values.serviceMonitor }}
{{- if and $sm.enabled .Values.metrics.secure $sm.namespace (ne $sm.namespace .Release.Namespace) (ne .Values.tls.mode "secret") (not $sm.tlsConfig) }}
{{- fail (printf "serviceMonitor.namespace %s: the Prometheus Operator reads the CA of a tlsConfig from the ServiceMonitor's namespace, and the CA of tls.mode %s is a Secret in %s; set serviceMonitor.tlsConfig with a CA in %s (e.g. copied by trust-manager), or leave serviceMonitor.namespace empty" $sm.namespace .Values.tls.mode .Release.Namespace $sm.namespace) }}
{{- end }}
{{- if and (eq .Values.tls.mode "certManager") (hasKey .Values.webhook.annotations "cert-manager.io/inject-ca-from") }}
{{- fail "webhook.annotations: cert-manager.io/inject-ca-from is set by the chart in tls.mode certManager" }}
{{- end }}
{{- $excluded := concat (list "kube-system" "kube-public" "kube-node-lease" .Release.Namespace) .Values.webhook.excludedNamespaces }}
{{- if and .Values.tests.namespace (has .Values.tests.namespace $excluded) }}
{{- fail (printf "tests.namespace %s is never sent to podguard (excluded namespaces %v): the helm test must run where podguard guards" .Values.tests.namespace $excluded) }}
{{- end }}
{{- if not (dig "limits" "memory" "" .Values.resources) }}
{{- fail "resources.limits.memory is required: podguard gets it as GOMEMLIMIT and sizes what requests may make it hold from it" }}
{{- end }}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) }}
{{- fail (printf "autoscaling.minReplicas (%v) must not exceed autoscaling.maxReplicas (%v)" .Values.autoscaling.minReplicas .Values.autoscaling.maxReplicas) }}
{{- end }}
{{- end }}

{{/*
Port of /metrics: metrics.port, or HTTPS on 8443 with metrics.secure and plain HTTP on
8080 without.
*/}}
{{- define "podguard.metricsPort" -}}
{{- if .Values.metrics.port }}{{ .Values.metrics.port }}{{ else if .Values.metrics.secure }}8443{{ else }}8080{{ end }}
{{- end }}
