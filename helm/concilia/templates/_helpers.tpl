{{/*
Shared templates. Every api, worker and the gateway is a "process" (concilia.processes) rendered by
the same Deployment/Service/PDB/HPA/NetworkPolicy templates, so a fix in one place fixes all.
*/}}

{{/* Resource-name prefix: the release name (two releases in one namespace never clash). */}}
{{- define "concilia.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "concilia.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Selector labels: only these two, fixed at creation, so upgrades never change a selector and two
releases select disjoint pods. Call with (dict "root" $ "name" "identity-api").
*/}}
{{- define "concilia.selectorLabels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{/* Full label set: selector labels + descriptive ones (never used in selectors). */}}
{{- define "concilia.labels" -}}
{{ include "concilia.selectorLabels" . }}
app.kubernetes.io/component: {{ .component | default "platform" }}
app.kubernetes.io/part-of: concilia
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ include "concilia.chart" .root }}
{{- end -}}

{{- define "concilia.image" -}}
{{- $image := .Values.image -}}
{{- if $image.digest -}}
{{ $image.repository }}@{{ $image.digest }}
{{- else -}}
{{ $image.repository }}:{{ $image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{- define "concilia.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{ .Values.serviceAccount.name | default (printf "%s-concilia" (include "concilia.fullname" .)) }}
{{- else -}}
{{ .Values.serviceAccount.name | default "default" }}
{{- end -}}
{{- end -}}

{{/* components key -> names: companyRegistry -> company-registry (k8s), company_registry (Python). */}}
{{- define "concilia.kebab" -}}{{ . | kebabcase }}{{- end -}}
{{- define "concilia.package" -}}{{ . | snakecase }}{{- end -}}
{{- define "concilia.addrVar" -}}{{ . | snakecase | upper }}_ADDR{{- end -}}

{{/* "<release>-<service>-api": the Service (and gRPC host name) of a service's api. */}}
{{- define "concilia.apiHost" -}}
{{ include "concilia.fullname" .root }}-{{ include "concilia.kebab" .key }}-api
{{- end -}}

{{/* The service components (everything in `components` except the gateway), sorted, enabled only. */}}
{{- define "concilia.serviceKeys" -}}
{{- $keys := list -}}
{{- range $key, $component := .Values.components -}}
{{- if and (ne $key "gateway") $component.enabled -}}{{- $keys = append $keys $key -}}{{- end -}}
{{- end -}}
{{- toJson $keys -}}
{{- end -}}

{{/*
Every long-running process of the release as a list (rendered to YAML, read back with fromYaml):
name, kind (api|worker|gateway), key (components key), package, command, and the merged settings.
*/}}
{{- define "concilia.processes" -}}
{{- $root := . -}}
{{- $processes := list -}}
{{- range $key := include "concilia.serviceKeys" $root | fromJsonArray -}}
{{- $component := index $root.Values.components $key -}}
{{- $package := include "concilia.package" $key -}}
{{- $api := mergeOverwrite (deepCopy $root.Values.processDefaults) (deepCopy ($component.api | default dict)) -}}
{{- $processes = append $processes (dict "name" (printf "%s-api" (include "concilia.kebab" $key)) "kind" "api" "key" $key "package" $package
      "command" (list "python" "-m" (printf "services.%s.api" $package)) "settings" $api) -}}
{{- $workerValues := $component.worker | default dict -}}
{{- if ($workerValues.enabled | default false) -}}
{{- $worker := mergeOverwrite (deepCopy $root.Values.processDefaults) (deepCopy $workerValues) -}}
{{- $processes = append $processes (dict "name" (printf "%s-worker" (include "concilia.kebab" $key)) "kind" "worker" "key" $key "package" $package
      "command" (list "python" "-m" "concilia.chassis.run_worker" (printf "services.%s.worker" $package)) "settings" $worker) -}}
{{- end -}}
{{- end -}}
{{- if $root.Values.components.gateway.enabled -}}
{{- $gateway := mergeOverwrite (deepCopy $root.Values.processDefaults) (deepCopy (omit $root.Values.components.gateway "enabled")) -}}
{{- $processes = append $processes (dict "name" "gateway" "kind" "gateway" "key" "gateway" "package" "gateway"
      "command" (list "gunicorn" "-c" "python:services.gateway.gunicorn_conf" "services.gateway.app:create_app()") "settings" $gateway) -}}
{{- end -}}
{{- toYaml (dict "processes" $processes) -}}
{{- end -}}

{{/* The Secret and key holding a service's DATABASE_URL. (dict "root" $ "key" "identity") */}}
{{- define "concilia.databaseSecretRef" -}}
{{- $component := index .root.Values.components .key -}}
{{- if .root.Values.devPostgresql.enabled -}}
name: {{ include "concilia.fullname" .root }}-dev-database
key: {{ $component.database.key }}
{{- else -}}
name: {{ $component.database.existingSecret | default .root.Values.database.existingSecret }}
key: {{ $component.database.key }}
{{- end -}}
{{- end -}}

{{- define "concilia.amqpSecretRef" -}}
{{- if .Values.devRabbitmq.enabled -}}
name: {{ include "concilia.fullname" . }}-dev-rabbitmq
key: amqp-uri
{{- else -}}
name: {{ .Values.rabbitmq.existingSecret }}
key: {{ .Values.rabbitmq.key }}
{{- end -}}
{{- end -}}

{{- define "concilia.signingKeySecret" -}}
{{- if .Values.identity.signingKey.generate -}}
{{ include "concilia.fullname" . }}-identity-signing-key
{{- else -}}
{{ .Values.identity.signingKey.existingSecret }}
{{- end -}}
{{- end -}}

{{- define "concilia.gatewaySecretRef" -}}
{{- if .Values.gateway.secretKey.generate -}}
name: {{ include "concilia.fullname" . }}-gateway
key: secret-key
{{- else -}}
name: {{ .Values.gateway.secretKey.existingSecret }}
key: {{ .Values.gateway.secretKey.key }}
{{- end -}}
{{- end -}}

{{- define "concilia.publicBaseUrl" -}}
{{- if .Values.notification.publicBaseUrl -}}
{{ .Values.notification.publicBaseUrl }}
{{- else if and .Values.ingress.enabled .Values.ingress.hosts -}}
http{{ if .Values.ingress.tls }}s{{ end }}://{{ (first .Values.ingress.hosts).host }}
{{- end -}}
{{- end -}}

{{- define "concilia.otlpEndpoint" -}}
{{- if .Values.otelCollector.enabled -}}
http://{{ include "concilia.fullname" . }}-otel-collector:4318
{{- else -}}
{{ .Values.tracing.otlpEndpoint }}
{{- end -}}
{{- end -}}

{{/* Environment every process shares (docs/developing.md: "all processes"). */}}
{{- define "concilia.commonEnv" -}}
- name: CONCILIA_COUNTRY
  value: {{ .Values.country.code | quote }}
- name: LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
- name: LOG_FORMAT
  value: {{ .Values.logFormat | quote }}
- name: METRICS_PORT
  value: {{ .Values.metrics.port | int | quote }}
# Process-level hints; the country pack stays authoritative for dates and language.
- name: TZ
  value: {{ .Values.country.timeZone | quote }}
- name: LANGUAGE
  value: {{ .Values.country.language | quote }}
{{- with include "concilia.otlpEndpoint" . }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- end -}}

{{/* gRPC client settings: the addresses of the apis a process calls, and the CA under TLS. */}}
{{- define "concilia.clientEnv" -}}
{{- $root := .root -}}
{{- range $key := .calls }}
- name: {{ include "concilia.addrVar" $key }}
  value: "{{ include "concilia.apiHost" (dict "root" $root "key" $key) }}:50051"
{{- end }}
{{- if $root.Values.grpcTls.enabled }}
- name: GRPC_TLS_CA_FILE
  value: /etc/concilia/grpc-tls/ca.crt
{{- end }}
{{- end -}}

{{/* The apis a process calls: gateway -> all; api -> identity (JWKS) + its `calls`, never itself
(identity verifies its own tokens locally); worker -> none. */}}
{{- define "concilia.calls" -}}
{{- $root := .root -}}
{{- $enabled := include "concilia.serviceKeys" $root | fromJsonArray -}}
{{- $calls := list -}}
{{- if eq .process.kind "gateway" -}}
{{- $calls = $enabled -}}
{{- else if eq .process.kind "api" -}}
{{- $calls = without (concat (list "identity") ((index $root.Values.components .process.key).calls | default list) | uniq) .process.key -}}
{{- end -}}
{{- $result := list -}}
{{- range $calls -}}{{- if has . $enabled -}}{{- $result = append $result . -}}{{- end -}}{{- end -}}
{{- toJson $result -}}
{{- end -}}

{{/* The whole environment of one process, in the order docs/developing.md lists it. */}}
{{- define "concilia.processEnv" -}}
{{- $root := .root -}}
{{- $p := .process -}}
{{- $calls := include "concilia.calls" . | fromJsonArray -}}
{{ include "concilia.commonEnv" $root }}
{{- if eq $p.kind "api" }}
- name: GRPC_PORT
  value: "50051"
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      {{- include "concilia.databaseSecretRef" (dict "root" $root "key" $p.key) | nindent 6 }}
- name: TOKEN_ISSUER
  value: {{ $root.Values.identity.tokenIssuer | quote }}
{{- if $root.Values.grpcTls.enabled }}
- name: GRPC_TLS_CERT_FILE
  value: /etc/concilia/grpc-tls/tls.crt
- name: GRPC_TLS_KEY_FILE
  value: /etc/concilia/grpc-tls/tls.key
{{- end }}
{{- include "concilia.clientEnv" (dict "root" $root "calls" $calls) }}
{{- if eq $p.key "identity" }}
- name: TOKEN_SIGNING_KEY_FILE
  value: /etc/concilia/identity/token-signing.pem
# Never invent a key in a pod: every replica must sign with the Secret's key.
- name: TOKEN_SIGNING_KEY_CREATE
  value: "false"
- name: ACCESS_TOKEN_TTL_SECONDS
  value: {{ $root.Values.identity.accessTokenTtlSeconds | int64 | quote }}
- name: REFRESH_TOKEN_TTL_SECONDS
  value: {{ $root.Values.identity.refreshTokenTtlSeconds | int64 | quote }}
{{- with $root.Values.identity.bootstrapAdmin }}
{{- if .existingSecret }}
- name: BOOTSTRAP_ADMIN_EMAIL
  valueFrom:
    secretKeyRef: {name: {{ .existingSecret }}, key: {{ .emailKey }}}
- name: BOOTSTRAP_ADMIN_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ .existingSecret }}, key: {{ .passwordKey }}}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- if eq $p.kind "worker" }}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      {{- include "concilia.databaseSecretRef" (dict "root" $root "key" $p.key) | nindent 6 }}
- name: AMQP_URI
  valueFrom:
    secretKeyRef:
      {{- include "concilia.amqpSecretRef" $root | nindent 6 }}
- name: OUTBOX_RELAY_INTERVAL_SECONDS
  value: {{ $p.settings.outboxRelayIntervalSeconds | default 1 | quote }}
- name: WORKER_MAX_WORKERS
  value: {{ $p.settings.maxWorkers | default 10 | int | quote }}
- name: PROCESSED_EVENTS_RETENTION_DAYS
  value: {{ $root.Values.processedEvents.retentionDays | int | quote }}
{{- if eq $p.key "notification" }}
{{- with $root.Values.notification }}
- name: PUBLIC_BASE_URL
  value: {{ include "concilia.publicBaseUrl" $root | quote }}
{{- if .smtp.host }}
- name: SMTP_HOST
  value: {{ .smtp.host | quote }}
- name: SMTP_PORT
  value: {{ .smtp.port | int | quote }}
- name: SMTP_FROM
  value: {{ .smtp.from | quote }}
- name: SMTP_STARTTLS
  value: {{ .smtp.starttls | quote }}
{{- if .smtp.existingSecret }}
- name: SMTP_USERNAME
  valueFrom:
    secretKeyRef: {name: {{ .smtp.existingSecret }}, key: {{ .smtp.usernameKey }}}
- name: SMTP_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ .smtp.existingSecret }}, key: {{ .smtp.passwordKey }}}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- else if eq $p.kind "gateway" }}
- name: PORT
  value: "8080"
- name: GATEWAY_SECRET_KEY
  valueFrom:
    secretKeyRef:
      {{- include "concilia.gatewaySecretRef" $root | nindent 6 }}
- name: TOKEN_ISSUER
  value: {{ $root.Values.identity.tokenIssuer | quote }}
{{- if and $root.Values.ingress.enabled $root.Values.ingress.tls }}
# Served over HTTPS through the ingress: session cookies must be Secure.
- name: GATEWAY_SECURE_COOKIES
  value: "true"
{{- end }}
{{- include "concilia.clientEnv" (dict "root" $root "calls" $calls) }}
{{- end }}
{{- if and (eq $p.key "complaint") (has $p.kind (list "api" "worker")) }}
# The api stores attachment bytes there; the worker removes those erased with their account (ADR 0018).
- name: ATTACHMENTS_DIR
  value: /var/lib/concilia/attachments
{{- end }}
{{- with $p.settings.env }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Volumes every process mounts: /tmp (the root file system is read-only), TLS, identity's key. */}}
{{- define "concilia.volumes" -}}
- name: tmp
  emptyDir: {sizeLimit: 256Mi}
{{- if .root.Values.grpcTls.enabled }}
- name: grpc-tls
  secret:
    secretName: {{ .root.Values.grpcTls.existingSecret }}
    defaultMode: 0440
    items:
      - {key: {{ .root.Values.grpcTls.certKey }}, path: tls.crt}
      - {key: {{ .root.Values.grpcTls.keyKey }}, path: tls.key}
      - {key: {{ .root.Values.grpcTls.caKey }}, path: ca.crt}
{{- end }}
{{- if and (eq .process.key "complaint") (has .process.kind (list "api" "worker")) }}
- name: attachments
  {{- with .root.Values.complaint.attachments }}
  {{- if .existingClaim }}
  persistentVolumeClaim: {claimName: {{ .existingClaim }}}
  {{- else }}
  emptyDir: {sizeLimit: {{ .sizeLimit }}}
  {{- end }}
  {{- end }}
{{- end }}
{{- if and (eq .process.kind "api") (eq .process.key "identity") }}
- name: signing-key
  secret:
    secretName: {{ include "concilia.signingKeySecret" .root }}
    defaultMode: 0440
    items:
      - {key: {{ .root.Values.identity.signingKey.key }}, path: token-signing.pem}
{{- end }}
{{- end -}}

{{- define "concilia.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if .root.Values.grpcTls.enabled }}
- name: grpc-tls
  mountPath: /etc/concilia/grpc-tls
  readOnly: true
{{- end }}
{{- if and (eq .process.key "complaint") (has .process.kind (list "api" "worker")) }}
- name: attachments
  mountPath: /var/lib/concilia/attachments
{{- end }}
{{- if and (eq .process.kind "api") (eq .process.key "identity") }}
- name: signing-key
  mountPath: /etc/concilia/identity
  readOnly: true
{{- end }}
{{- end -}}

{{/*
A gRPC health check as a one-line Python program (the image has grpcio): used by `helm test` and,
when gRPC TLS is on, by the api probes (the kubelet's native gRPC probe cannot do TLS).
Arguments: host:port [tls-server-name]. Exit 0 = SERVING.
*/}}
{{- define "concilia.grpcHealthScript" -}}
import os, sys, grpc
from grpc_health.v1 import health_pb2 as h, health_pb2_grpc as hg
addr = sys.argv[1]; ca = os.environ.get("GRPC_TLS_CA_FILE")
opts = [("grpc.ssl_target_name_override", sys.argv[2])] if ca and len(sys.argv) > 2 else []
ch = grpc.secure_channel(addr, grpc.ssl_channel_credentials(open(ca, "rb").read()), opts) if ca else grpc.insecure_channel(addr)
status = hg.HealthStub(ch).Check(h.HealthCheckRequest(service=""), timeout=3).status
print(addr, h.HealthCheckResponse.ServingStatus.Name(status))
sys.exit(0 if status == h.HealthCheckResponse.SERVING else 1)
{{- end -}}

{{/* Probes by kind. api: native gRPC health; worker: its metrics port; gateway: /livez and /healthz. */}}
{{- define "concilia.probes" -}}
{{- $root := .root -}}
{{- $p := .process -}}
{{- if eq $p.kind "api" -}}
{{- if $root.Values.grpcTls.enabled -}}
{{- $check := dict "exec" (dict "command" (list "python" "-c" (include "concilia.grpcHealthScript" $root) "127.0.0.1:50051" (include "concilia.apiHost" (dict "root" $root "key" $p.key)))) -}}
startupProbe:
  {{- toYaml $check | nindent 2 }}
  periodSeconds: 5
  timeoutSeconds: 5
  failureThreshold: 60
readinessProbe:
  {{- toYaml $check | nindent 2 }}
  periodSeconds: 10
  timeoutSeconds: 5
  failureThreshold: 3
livenessProbe:
  tcpSocket: {port: grpc}
  periodSeconds: 10
  failureThreshold: 3
{{- else -}}
# Native gRPC probes on the standard health service; startup tolerates a late database.
startupProbe:
  grpc: {port: 50051}
  periodSeconds: 2
  failureThreshold: 150
readinessProbe:
  grpc: {port: 50051}
  periodSeconds: 5
  timeoutSeconds: 2
  failureThreshold: 2
livenessProbe:
  grpc: {port: 50051}
  periodSeconds: 10
  timeoutSeconds: 2
  failureThreshold: 3
{{- end -}}
{{- else if eq $p.kind "worker" -}}
# Workers serve no traffic: the metrics endpoint being up shows the process is alive. The
# broker is waited for inside the process (run_worker), so a late broker is no crash loop.
startupProbe:
  tcpSocket: {port: metrics}
  periodSeconds: 2
  failureThreshold: 60
readinessProbe:
  tcpSocket: {port: metrics}
  periodSeconds: 10
  failureThreshold: 3
livenessProbe:
  tcpSocket: {port: metrics}
  periodSeconds: 10
  failureThreshold: 3
{{- else -}}
# /healthz checks every service the gateway calls: right for readiness, wrong for liveness
# (an outage of one service must not restart every gateway). /livez only says "this process answers".
startupProbe:
  httpGet: {path: /livez, port: http}
  periodSeconds: 2
  failureThreshold: 60
readinessProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: 5
  timeoutSeconds: 3
  failureThreshold: 2
livenessProbe:
  httpGet: {path: /livez, port: http}
  periodSeconds: 10
  timeoutSeconds: 2
  failureThreshold: 3
{{- end -}}
{{- end -}}

{{- define "concilia.ports" -}}
{{- if eq .process.kind "api" }}
- {name: grpc, containerPort: 50051, protocol: TCP}
{{- else if eq .process.kind "gateway" }}
- {name: http, containerPort: 8080, protocol: TCP}
{{- end }}
- {name: metrics, containerPort: {{ .root.Values.metrics.port }}, protocol: TCP}
{{- end -}}

{{/*
checkov skips, written next to the resources they concern (metadata annotations), each with its
reason. Call with a list of check ids: (list "CKV_K8S_21" "CKV_K8S_43").
*/}}
{{- define "concilia.checkovSkips" -}}
{{- $reasons := dict
  "CKV_K8S_21" "The namespace is the release namespace (helm -n); checkov renders into default"
  "CKV_K8S_43" "Production pins image.digest; the default tag is the chart appVersion, an immutable release tag"
  "CKV_K8S_15" "IfNotPresent is right for immutable tags and digests; Always only adds registry load"
  "CKV_K8S_35" "The processes read DATABASE_URL, AMQP_URI and GATEWAY_SECRET_KEY from the environment (docs/developing.md); keys are files"
  "CKV2_K8S_6" "NetworkPolicies ship with the chart (networkPolicy.enabled, on in values-br/ar) but default off so an install works before the cluster peers are known"
  "CKV_K8S_40" "The official image runs as its own uid 999; the data directory permissions depend on it"
  "CKV_K8S_38" "pg_isready and rabbitmq-diagnostics need no token; automount is off"
  "CKV_K8S_8" "A run-once helm test pod exits in seconds; a liveness probe has nothing to watch"
  "CKV_K8S_9" "A run-once helm test pod receives no traffic; readiness means nothing"
-}}
{{- range $i, $id := . }}
checkov.io/skip{{ add1 $i }}: {{ printf "%s=%s" $id (get $reasons $id | required (printf "no reason written for %s" $id)) | quote }}
{{- end }}
{{- end -}}
