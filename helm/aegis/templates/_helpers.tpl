{{/* ---------- names and labels ---------- */}}

{{- define "aegis.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "aegis.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
"<fullname>-<suffix>", kept within the 63 characters of a DNS label, or within
"max": CronJobs and StatefulSets need 52, as Kubernetes appends to their names.
*/}}
{{- define "aegis.componentName" -}}
{{- $full := include "aegis.fullname" .ctx -}}
{{- $max := int (default 63 .max) -}}
{{- printf "%s-%s" ($full | trunc (int (sub (sub $max 1) (len .name))) | trimSuffix "-") .name -}}
{{- end -}}

{{- define "aegis.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels; call with (dict "ctx" $ "component" "gateway"). */}}
{{- define "aegis.selectorLabels" -}}
app.kubernetes.io/name: {{ include "aegis.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Every label; call with (dict "ctx" $ "component" "gateway"). */}}
{{- define "aegis.labels" -}}
{{ include "aegis.selectorLabels" . }}
helm.sh/chart: {{ include "aegis.chart" .ctx }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: {{ include "aegis.name" .ctx }}
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Matches every pod of this release (the peers PostgreSQL and Redis accept). */}}
{{- define "aegis.releaseSelector" -}}
app.kubernetes.io/name: {{ include "aegis.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "aegis.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "aegis.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "aegis.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The stage names: the keys of .Values.workers, which a chart test keeps equal
to the application's stage registry (aegis/pipeline/registry.py). */}}
{{/*
Fair share's installation-wide bound: config.pipelineSlots, or the stage workers'
prefork slots (concurrency x replicas, summed; maxReplicas where an HPA or KEDA scales
the worker, so the queues can grow enough for the autoscaler to see the load).
*/}}
{{- define "aegis.pipelineSlots" -}}
{{- $v := .Values -}}
{{- if $v.config.pipelineSlots -}}
{{- $v.config.pipelineSlots | int64 -}}
{{- else -}}
{{- $total := 0 -}}
{{- range $name, $w := $v.workers -}}
{{- if $w.enabled -}}
{{- $replicas := $w.replicas -}}
{{- if or $v.keda.enabled $w.autoscaling.enabled -}}
{{- $replicas = $w.autoscaling.maxReplicas -}}
{{- end -}}
{{- $total = add $total (mul (int $replicas) (int $w.concurrency)) -}}
{{- end -}}
{{- end -}}
{{- max 1 $total -}}
{{- end -}}
{{- end -}}

{{- define "aegis.stages" -}}
{{- keys .Values.workers | sortAlpha | join " " -}}
{{- end -}}

{{/* ---------- credentials ---------- */}}

{{- define "aegis.secretName" -}}
{{- include "aegis.fullname" . -}}
{{- end -}}

{{/*
A chart-managed credential: the given value, else the one already stored in the
release's Secret (so upgrades keep generated passwords), else a new random one.
Call with (dict "ctx" $ "key" "redis-password" "given" .Values.redis.auth.password).
*/}}
{{- define "aegis.secretValue" -}}
{{- if .given -}}
{{- .given -}}
{{- else -}}
{{- $existing := lookup "v1" "Secret" .ctx.Release.Namespace (include "aegis.secretName" .ctx) -}}
{{- if and $existing $existing.data (hasKey $existing.data .key) -}}
{{- index $existing.data .key | b64dec -}}
{{- else -}}
{{- randAlphaNum 32 -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* secretKeyRef of the database password as YAML ({} when there is none). */}}
{{- define "aegis.database.passwordRef" -}}
{{- if .Values.postgresql.enabled -}}
name: {{ default (include "aegis.secretName" .) .Values.postgresql.auth.existingSecret }}
key: {{ ternary .Values.postgresql.auth.existingSecretKey "postgres-password" (ne .Values.postgresql.auth.existingSecret "") }}
{{- else if .Values.externalDatabase.existingSecret -}}
name: {{ .Values.externalDatabase.existingSecret }}
key: {{ .Values.externalDatabase.existingSecretPasswordKey }}
{{- else if .Values.externalDatabase.password -}}
name: {{ include "aegis.secretName" . }}
key: database-password
{{- else -}}
{}
{{- end -}}
{{- end -}}

{{/* secretKeyRef of the Redis password as YAML ({} when Redis has no password). */}}
{{- define "aegis.redis.passwordRef" -}}
{{- if .Values.redis.enabled -}}
{{- if .Values.redis.auth.enabled -}}
name: {{ default (include "aegis.secretName" .) .Values.redis.auth.existingSecret }}
key: {{ ternary .Values.redis.auth.existingSecretKey "redis-password" (ne .Values.redis.auth.existingSecret "") }}
{{- else -}}
{}
{{- end -}}
{{- else if .Values.externalRedis.existingSecret -}}
name: {{ .Values.externalRedis.existingSecret }}
key: {{ .Values.externalRedis.existingSecretPasswordKey }}
{{- else if .Values.externalRedis.password -}}
name: {{ include "aegis.secretName" . }}
key: redis-password
{{- else -}}
{}
{{- end -}}
{{- end -}}

{{- define "aegis.database.host" -}}
{{- if .Values.postgresql.enabled -}}
{{- include "aegis.componentName" (dict "ctx" . "name" "postgresql") -}}
{{- else -}}
{{- .Values.externalDatabase.host -}}
{{- end -}}
{{- end -}}

{{- define "aegis.database.port" -}}
{{- if .Values.postgresql.enabled -}}5432{{- else -}}{{ .Values.externalDatabase.port }}{{- end -}}
{{- end -}}

{{- define "aegis.redis.host" -}}
{{- if .Values.redis.enabled -}}
{{- include "aegis.componentName" (dict "ctx" . "name" "redis") -}}
{{- else -}}
{{- .Values.externalRedis.host -}}
{{- end -}}
{{- end -}}

{{/* "true" when the Redis is an external Sentinel set, else empty. */}}
{{- define "aegis.redis.sentinel" -}}
{{- if and (not .Values.redis.enabled) .Values.externalRedis.sentinel.enabled -}}true{{- end -}}
{{- end -}}

{{- define "aegis.redis.port" -}}
{{- if .Values.redis.enabled -}}6379{{- else -}}{{ .Values.externalRedis.port }}{{- end -}}
{{- end -}}

{{- define "aegis.redis.database" -}}
{{- if .Values.redis.enabled -}}{{ .Values.redis.database }}{{- else -}}{{ .Values.externalRedis.database }}{{- end -}}
{{- end -}}

{{/*
AEGIS_DATABASE_URL, with the password taken from a Secret through Kubernetes'
$(VAR) expansion so it never appears in a ConfigMap or a pod spec.
Call with (dict "ctx" $) or (dict "ctx" $ "secretName" "...") to read the password
from another Secret (the migrations hook Secret).
*/}}
{{- define "aegis.env.database" -}}
{{- $ctx := .ctx -}}
{{- $v := $ctx.Values -}}
{{- if and (not $v.postgresql.enabled) $v.externalDatabase.existingSecretUrlKey }}
- name: AEGIS_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ $v.externalDatabase.existingSecret }}
      key: {{ $v.externalDatabase.existingSecretUrlKey }}
{{- else }}
{{- $ref := include "aegis.database.passwordRef" $ctx | fromYaml -}}
{{- $user := ternary $v.postgresql.auth.username $v.externalDatabase.username $v.postgresql.enabled -}}
{{- $db := ternary $v.postgresql.auth.database $v.externalDatabase.database $v.postgresql.enabled -}}
{{- $auth := $user -}}
{{- if $ref.name }}
- name: AEGIS_DATABASE_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ default $ref.name .secretName }}
      key: {{ ternary "database-password" $ref.key (not (empty .secretName)) }}
{{- $auth = printf "%s:$(AEGIS_DATABASE_PASSWORD)" $user -}}
{{- end }}
{{- $query := "" -}}
{{- if and (not $v.postgresql.enabled) $v.externalDatabase.sslmode -}}
{{- $query = printf "?sslmode=%s" $v.externalDatabase.sslmode -}}
{{- end }}
- name: AEGIS_DATABASE_URL
  value: {{ printf "postgresql://%s@%s:%s/%s%s" $auth (include "aegis.database.host" $ctx) (include "aegis.database.port" $ctx) $db $query | quote }}
{{- end }}
{{- end -}}

{{/* AEGIS_BROKER_URL (Redis), password from a Secret as above. */}}
{{- define "aegis.env.redis" -}}
{{- $ref := include "aegis.redis.passwordRef" . | fromYaml -}}
{{- $scheme := ternary "rediss" "redis" (and (not .Values.redis.enabled) .Values.externalRedis.tls) -}}
{{- $auth := "" -}}
{{- if $ref.name }}
- name: AEGIS_REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $ref.name }}
      key: {{ $ref.key }}
{{- $user := "" -}}
{{- if and (not .Values.redis.enabled) .Values.externalRedis.username }}
- name: AEGIS_REDIS_USERNAME
  value: {{ .Values.externalRedis.username | quote }}
{{- $user = "$(AEGIS_REDIS_USERNAME)" -}}
{{- end }}
{{- $auth = printf "%s:$(AEGIS_REDIS_PASSWORD)@" $user -}}
{{- end }}
{{- $redisUrl := printf "%s://%s%s:%s/%s" $scheme $auth (include "aegis.redis.host" .) (include "aegis.redis.port" .) (include "aegis.redis.database" .) -}}
{{- if include "aegis.redis.sentinel" . }}
{{- /* kombu reads the password from the first URL; every URL names one Sentinel. */ -}}
{{- $urls := list -}}
{{- range $i, $host := .Values.externalRedis.sentinel.hosts -}}
{{- $urls = append $urls (printf "sentinel://%s%s" (ternary $auth "" (eq $i 0)) $host) -}}
{{- end -}}
{{- $redisUrl = printf "%s/%s" (join ";" $urls) (include "aegis.redis.database" .) }}
- name: AEGIS_SENTINEL_MASTER
  value: {{ .Values.externalRedis.sentinel.masterName | quote }}
{{- end }}
{{- if .Values.externalBroker.enabled }}
{{- if or .Values.redis.enabled .Values.externalRedis.host (include "aegis.redis.sentinel" .) }}
- name: AEGIS_EVENTS_URL
  value: {{ $redisUrl | quote }}
{{- end }}
- name: AEGIS_BROKER_URL
{{- if .Values.externalBroker.existingSecret }}
  valueFrom:
    secretKeyRef:
      name: {{ .Values.externalBroker.existingSecret }}
      key: {{ .Values.externalBroker.existingSecretUrlKey }}
{{- else }}
  value: {{ .Values.externalBroker.url | quote }}
{{- end }}
{{- else }}
- name: AEGIS_BROKER_URL
  value: {{ $redisUrl | quote }}
{{- end }}
{{- end -}}

{{/* API keys and the webhook secret, each from the chart's Secret or an existing one. */}}
{{- define "aegis.env.credentials" -}}
{{- $secret := include "aegis.secretName" . -}}
{{- range $item := list
    (list "OPENAI_API_KEY" .Values.ai.openai "openai-api-key" "apiKey")
    (list "PINECONE_API_KEY" .Values.ai.pinecone "pinecone-api-key" "apiKey")
    (list "AEGIS_WEBHOOK_SECRET" .Values.webhooks "webhook-secret" "secret") }}
{{- $env := index $item 0 -}}
{{- $cfg := index $item 1 -}}
{{- if $cfg.existingSecret }}
- name: {{ $env }}
  valueFrom:
    secretKeyRef:
      name: {{ $cfg.existingSecret }}
      key: {{ $cfg.existingSecretKey }}
{{- else if (index $cfg (index $item 3)) }}
- name: {{ $env }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ index $item 2 }}
{{- end }}
{{- end }}
{{- with .Values.storage.s3.existingSecret }}
{{- if eq $.Values.storage.type "s3" }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.Values.storage.s3.accessKeyIdKey }}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.Values.storage.s3.secretAccessKeyKey }}
{{- end }}
{{- end }}
{{- end -}}

{{/* ---------- settings ---------- */}}

{{/* The ConfigMap's data (also the migrations Job's inline env). */}}
{{- define "aegis.config.data" -}}
{{- $v := .Values -}}
AEGIS_DATA_DIR: "/tmp"
{{- if eq $v.storage.type "s3" }}
{{- with $v.storage.s3 }}
AEGIS_STORAGE_URL: {{ printf "s3://%s/%s" .bucket (.prefix | trimAll "/") | trimSuffix "/" | quote }}
AEGIS_TEMP_DIR: "/tmp/aegis"
AEGIS_S3_ADDRESSING_STYLE: {{ .addressingStyle | quote }}
{{- with .endpoint }}
AEGIS_S3_ENDPOINT_URL: {{ . | quote }}
{{- end }}
{{- with .region }}
AWS_DEFAULT_REGION: {{ . | quote }}
{{- end }}
{{- with .sse }}
AEGIS_S3_SSE: {{ . | quote }}
{{- end }}
{{- with .kmsKeyId }}
AEGIS_S3_KMS_KEY_ID: {{ . | quote }}
{{- end }}
{{- end }}
{{- else }}
AEGIS_STORAGE_DIR: {{ $v.storage.mountPath | quote }}
{{- end }}
AEGIS_MAX_UPLOAD_BYTES: {{ $v.config.maxUploadBytes | int64 | quote }}
AEGIS_VISIBILITY_TIMEOUT: {{ $v.config.visibilityTimeout | int64 | quote }}
AEGIS_RECONCILE_INTERVAL: {{ $v.config.reconcileInterval | toString | quote }}
{{- if kindIs "bool" $v.config.taskEvents }}
AEGIS_TASK_EVENTS: {{ ternary "1" "0" $v.config.taskEvents | quote }}
{{- else }}
AEGIS_TASK_EVENTS: {{ ternary "1" "0" $v.flower.enabled | quote }}
{{- end }}
AEGIS_MAX_ATTEMPTS: {{ $v.config.maxAttempts | int64 | quote }}
AEGIS_PIPELINE_SLOTS: {{ include "aegis.pipelineSlots" . | quote }}
{{- with $v.config.tenantMaxInFlight }}
AEGIS_TENANT_MAX_IN_FLIGHT: {{ . | int64 | quote }}
{{- end }}
AEGIS_RETENTION_INTERVAL: {{ $v.config.retentionInterval | toString | quote }}
AEGIS_AUDIT_RETENTION_DAYS: {{ $v.config.auditRetentionDays | int64 | quote }}
{{- range $stage := splitList " " (include "aegis.stages" .) }}
AEGIS_TIME_LIMIT_{{ upper $stage }}: {{ (index $v.workers $stage).timeLimitSeconds | int64 | quote }}
{{- end }}
AEGIS_AI_PROVIDER: {{ $v.ai.provider | quote }}
AEGIS_VECTOR_STORE: {{ $v.ai.vectorStore | quote }}
AEGIS_OPENAI_CHAT_MODEL: {{ $v.ai.openai.chatModel | quote }}
AEGIS_OPENAI_EMBEDDING_MODEL: {{ $v.ai.openai.embeddingModel | quote }}
{{- with $v.ai.openai.baseUrl }}
OPENAI_BASE_URL: {{ . | quote }}
{{- end }}
{{- with $v.ai.pinecone.index }}
AEGIS_PINECONE_INDEX: {{ . | quote }}
{{- end }}
{{- with $v.ai.pinecone.host }}
AEGIS_PINECONE_HOST: {{ . | quote }}
{{- end }}
{{- with $v.config.ocr }}
AEGIS_OCR: {{ .mode | quote }}
AEGIS_OCR_LANGUAGES: {{ .languages | quote }}
AEGIS_OCR_DPI: {{ .dpi | int64 | quote }}
AEGIS_OCR_BATCH_PAGES: {{ .batchPages | int64 | quote }}
AEGIS_OCR_MAX_PIXELS: {{ .maxPixels | int64 | quote }}
AEGIS_OCR_MAX_IMAGE_PIXELS: {{ .maxImagePixels | int64 | quote }}
AEGIS_OCR_PAGE_TIMEOUT: {{ .pageTimeoutSeconds | toString | quote }}
AEGIS_OCR_MIN_TEXT_CHARS: {{ .minTextChars | int64 | quote }}
{{- end }}
AEGIS_LOG_LEVEL: {{ $v.config.logLevel | quote }}
AEGIS_LOG_JSON: {{ ternary "true" "false" $v.config.logJson | quote }}
{{- range $key, $value := $v.config.extra }}
{{ $key }}: {{ $value | toString | quote }}
{{- end }}
{{- end -}}

{{/* The longest hard time limit among a worker's queues, in seconds. */}}
{{- define "aegis.worker.timeLimit" -}}
{{- $max := 0 -}}
{{- $ctx := .ctx -}}
{{- range $queue := splitList "," .worker.queue -}}
{{- $limit := int (index $ctx.Values.workers (trim $queue)).timeLimitSeconds -}}
{{- if gt $limit $max }}{{ $max = $limit }}{{ end -}}
{{- end -}}
{{- $max -}}
{{- end -}}

{{- define "aegis.worker.gracePeriod" -}}
{{- if not (kindIs "invalid" .worker.terminationGracePeriodSeconds) -}}
{{- .worker.terminationGracePeriodSeconds | int -}}
{{- else -}}
{{- add (include "aegis.worker.timeLimit" .) .ctx.Values.workerSettings.gracePeriodMarginSeconds -}}
{{- end -}}
{{- end -}}

{{/* ---------- pod building blocks ---------- */}}

{{/* Rolls pods when settings or chart-managed credentials change. */}}
{{- define "aegis.checksums" -}}
checksum/config: {{ include "aegis.config.data" . | sha256sum }}
checksum/secret: {{ list .Values.postgresql.auth .Values.externalDatabase .Values.redis.auth .Values.externalRedis .Values.ai .Values.webhooks .Values.flower.auth | toJson | sha256sum }}
{{- end -}}

{{/* Environment every Aegis container gets before its own. */}}
{{- define "aegis.env.common" -}}
- name: HOME
  value: /tmp
{{ include "aegis.env.database" (dict "ctx" .) | trim }}
{{ include "aegis.env.redis" . | trim }}
{{- with include "aegis.env.credentials" . | trim }}
{{ . }}
{{- end }}
{{- end -}}

{{/* A component's extra env: a name->value map, then full EnvVar objects. */}}
{{- define "aegis.env.extra" -}}
{{- range $name, $value := .env }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- with .extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "aegis.pod.common" -}}
serviceAccountName: {{ include "aegis.serviceAccountName" . }}
automountServiceAccountToken: {{ .Values.serviceAccount.automountServiceAccountToken }}
# No <SERVICE>_PORT variables: they would clash with AEGIS_* and FLOWER_* settings.
enableServiceLinks: false
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* nodeSelector, tolerations, affinity, spread and priority of a component. */}}
{{- define "aegis.pod.placement" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- end -}}

{{- define "aegis.volume.tmp" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpVolume.sizeLimit }}
{{- end -}}

{{- define "aegis.volume.storage" -}}
- name: storage
{{- if .Values.storage.persistence.enabled }}
  persistentVolumeClaim:
    claimName: {{ default (include "aegis.componentName" (dict "ctx" . "name" "storage")) .Values.storage.persistence.existingClaim }}
{{- else }}
  emptyDir: {}
{{- end }}
{{- end -}}

{{/* ---------- autoscaling ---------- */}}

{{/* An autoscaling/v2 HPA; call with (dict "ctx" $ "name" ... "component" ... "autoscaling" ...). */}}
{{- define "aegis.hpa" -}}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ .name }}
  namespace: {{ .ctx.Release.Namespace }}
  labels:
    {{- include "aegis.labels" (dict "ctx" .ctx "component" .component) | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ .name }}
  minReplicas: {{ .autoscaling.minReplicas }}
  maxReplicas: {{ .autoscaling.maxReplicas }}
  metrics:
    {{- with .autoscaling.targetCPUUtilizationPercentage }}
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ . }}
    {{- end }}
    {{- with .autoscaling.targetMemoryUtilizationPercentage }}
    - type: Resource
      resource:
        name: memory
        target:
          type: Utilization
          averageUtilization: {{ . }}
    {{- end }}
  behavior:
    {{- toYaml (default .ctx.Values.autoscalingBehavior .autoscaling.behavior) | nindent 4 }}
{{- end -}}

{{- define "aegis.pdb" -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ .name }}
  namespace: {{ .ctx.Release.Namespace }}
  labels:
    {{- include "aegis.labels" (dict "ctx" .ctx "component" .component) | nindent 4 }}
spec:
  {{- if hasKey .pdb "minAvailable" }}
  minAvailable: {{ .pdb.minAvailable }}
  {{- else }}
  maxUnavailable: {{ .pdb.maxUnavailable }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "aegis.selectorLabels" (dict "ctx" .ctx "component" .component) | nindent 6 }}
{{- end -}}

{{/* ---------- validation the schema cannot express ---------- */}}

{{- define "aegis.validate" -}}
{{- $v := .Values -}}
{{- if and (eq $v.storage.type "s3") (not $v.storage.s3.bucket) -}}
{{- fail "storage.type s3 needs storage.s3.bucket" -}}
{{- end -}}
{{- if and $v.storage.s3.kmsKeyId (ne $v.storage.s3.sse "aws:kms") -}}
{{- fail "storage.s3.kmsKeyId needs storage.s3.sse: aws:kms" -}}
{{- end -}}
{{- $stages := splitList " " (include "aegis.stages" .) -}}
{{- range $stage := $stages -}}
{{- $limit := int (index $v.workers $stage).timeLimitSeconds -}}
{{- if le (int $v.config.visibilityTimeout) $limit -}}
{{- fail (printf "config.visibilityTimeout (%d) must exceed workers.%s.timeLimitSeconds (%d): Redis would hand the running task to a second worker" (int $v.config.visibilityTimeout) $stage $limit) -}}
{{- end -}}
{{- $consumed := false -}}
{{- range $name, $w := $v.workers -}}
{{- if and $w.enabled (has $stage (splitList "," $w.queue)) -}}{{- $consumed = true -}}{{- end -}}
{{- end -}}
{{- if not $consumed -}}
{{- fail (printf "no enabled worker consumes the %q queue: documents would wait there forever" $stage) -}}
{{- end -}}
{{- end -}}
{{- range $name, $w := $v.workers -}}
{{- if and $w.enabled (not (kindIs "invalid" $w.terminationGracePeriodSeconds)) -}}
{{- $limit := int (include "aegis.worker.timeLimit" (dict "ctx" $ "worker" $w)) -}}
{{- if le (int $w.terminationGracePeriodSeconds) $limit -}}
{{- fail (printf "workers.%s.terminationGracePeriodSeconds (%d) must exceed the time limit of its queues (%d), or Kubernetes kills running tasks on every rollout" $name (int $w.terminationGracePeriodSeconds) $limit) -}}
{{- end -}}
{{- end -}}
{{- if and $w.enabled $w.autoscaling.enabled (not $v.keda.enabled) (lt (int $w.autoscaling.minReplicas) 1) -}}
{{- fail (printf "workers.%s.autoscaling.minReplicas must be at least 1 with an HPA; scaling to zero needs keda.enabled" $name) -}}
{{- end -}}
{{- if and $w.enabled $w.autoscaling.enabled (gt (int $w.autoscaling.minReplicas) (int $w.autoscaling.maxReplicas)) -}}
{{- fail (printf "workers.%s.autoscaling.minReplicas exceeds maxReplicas" $name) -}}
{{- end -}}
{{- end -}}
{{- with $v.config.ocr -}}
{{- $batch := mulf (float64 .batchPages) (float64 .pageTimeoutSeconds) -}}
{{- $limit := float64 $v.workers.ocr.timeLimitSeconds -}}
{{- if gt $batch $limit -}}
{{- fail (printf "config.ocr.batchPages x config.ocr.pageTimeoutSeconds (%g s) exceeds workers.ocr.timeLimitSeconds (%d): a batch of slow pages would be killed before each page could time out on its own; raise the time limit or lower either setting" $batch (int $v.workers.ocr.timeLimitSeconds)) -}}
{{- end -}}
{{- if gt (int64 .maxPixels) (int64 .maxImagePixels) -}}
{{- fail "config.ocr.maxPixels must not exceed config.ocr.maxImagePixels" -}}
{{- end -}}
{{- end -}}
{{- if and $v.gateway.autoscaling.enabled (lt (int $v.gateway.autoscaling.minReplicas) 1) -}}
{{- fail "gateway.autoscaling.minReplicas must be at least 1" -}}
{{- end -}}
{{- if and $v.gateway.autoscaling.enabled (gt (int $v.gateway.autoscaling.minReplicas) (int $v.gateway.autoscaling.maxReplicas)) -}}
{{- fail "gateway.autoscaling.minReplicas exceeds maxReplicas" -}}
{{- end -}}
{{- if and (not $v.postgresql.enabled) (not $v.externalDatabase.host) (not $v.externalDatabase.existingSecretUrlKey) -}}
{{- fail "postgresql.enabled is false: set externalDatabase.host (or externalDatabase.existingSecret with existingSecretUrlKey)" -}}
{{- end -}}
{{- if and $v.externalDatabase.existingSecretUrlKey (not $v.externalDatabase.existingSecret) -}}
{{- fail "externalDatabase.existingSecretUrlKey needs externalDatabase.existingSecret" -}}
{{- end -}}
{{- if and (not $v.redis.enabled) $v.externalRedis.sentinel.enabled (not $v.externalRedis.sentinel.hosts) -}}
{{- fail "externalRedis.sentinel.enabled: list the Sentinels in externalRedis.sentinel.hosts (host:port)" -}}
{{- end -}}
{{- if and (not $v.redis.enabled) (not $v.externalRedis.host) (not $v.externalBroker.enabled) (not $v.externalRedis.sentinel.enabled) -}}
{{- fail "redis.enabled is false: set externalRedis.host (or externalBroker for RabbitMQ)" -}}
{{- end -}}
{{- if and $v.externalBroker.enabled (not $v.externalBroker.existingSecret) (not $v.externalBroker.url) -}}
{{- fail "externalBroker.enabled: set externalBroker.existingSecret (the URL under existingSecretUrlKey) or externalBroker.url" -}}
{{- end -}}
{{- if and (eq $v.ai.provider "openai") (not $v.ai.openai.apiKey) (not $v.ai.openai.existingSecret) (not $v.ai.openai.baseUrl) -}}
{{- fail "ai.provider is openai: set ai.openai.apiKey or ai.openai.existingSecret" -}}
{{- end -}}
{{- if eq $v.ai.vectorStore "pinecone" -}}
{{- if and (not $v.ai.pinecone.apiKey) (not $v.ai.pinecone.existingSecret) -}}
{{- fail "ai.vectorStore is pinecone: set ai.pinecone.apiKey or ai.pinecone.existingSecret" -}}
{{- end -}}
{{- if and (not $v.ai.pinecone.index) (not $v.ai.pinecone.host) -}}
{{- fail "ai.vectorStore is pinecone: set ai.pinecone.index or ai.pinecone.host" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* ---------- migrations ---------- */}}

{{/*
Hook events of the migrations Job. Before every upgrade; before install too when
the database is external. A bundled PostgreSQL is created by the install itself,
so then the first migration runs right after install.
*/}}
{{- define "aegis.migrations.hook" -}}
{{- if .Values.postgresql.enabled -}}post-install,pre-upgrade{{- else -}}pre-install,pre-upgrade{{- end -}}
{{- end -}}

{{/*
True when the hook Job may run before the release's own objects exist (pre-install
against an external database): it cannot use the chart's ServiceAccount, ConfigMap
or Secret then, so it gets its settings inline and its password from a hook Secret.
*/}}
{{- define "aegis.migrations.preInstall" -}}
{{- if and .Values.migrations.useHelmHooks (not .Values.postgresql.enabled) -}}true{{- end -}}
{{- end -}}

{{- define "aegis.migrations.hookSecretName" -}}
{{- include "aegis.componentName" (dict "ctx" . "name" "migrations") -}}
{{- end -}}

{{/* Whether the pre-install hook needs its own copy of the database password. */}}
{{- define "aegis.migrations.needsHookSecret" -}}
{{- if and (include "aegis.migrations.preInstall" .) (not .Values.externalDatabase.existingSecret) .Values.externalDatabase.password -}}true{{- end -}}
{{- end -}}

{{- define "aegis.migrations.serviceAccountName" -}}
{{- if and .Values.serviceAccount.create (include "aegis.migrations.preInstall" .) -}}
default
{{- else -}}
{{- include "aegis.serviceAccountName" . -}}
{{- end -}}
{{- end -}}
