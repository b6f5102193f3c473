{{/* Chart name, truncated to a DNS label. */}}
{{- define "employes-sync.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: "<release>-<chart>", or the release name when it already holds the chart name. */}}
{{- define "employes-sync.fullname" -}}
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

{{- define "employes-sync.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "employes-sync.labels" -}}
helm.sh/chart: {{ include "employes-sync.chart" . }}
app.kubernetes.io/name: {{ include "employes-sync.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: employes-sync
{{- end }}

{{/* Selector labels; pass a dict with "ctx" (the root) and "component". */}}
{{- define "employes-sync.selectorLabels" -}}
app.kubernetes.io/name: {{ include "employes-sync.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "employes-sync.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "employes-sync.workerImage" -}}
{{- default (include "employes-sync.image" .) .Values.worker.image }}
{{- end }}

{{- define "employes-sync.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "employes-sync.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "employes-sync.workerServiceAccountName" -}}
{{- default (printf "%s-worker" (include "employes-sync.fullname" .)) .Values.worker.serviceAccount.name }}
{{- end }}

{{- define "employes-sync.triggerServiceAccountName" -}}
{{- printf "%s-trigger" (include "employes-sync.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The namespaces the operator watches, comma-separated, without duplicates, in the given order: the listed
ones, or the release's namespace when none is listed. Empty in cluster-wide mode (clusterWide: true).
*/}}
{{- define "employes-sync.watchNamespaces" -}}
{{- if .Values.clusterWide }}
{{- if .Values.watchNamespaces }}
{{- fail "clusterWide: true watches every namespace; leave watchNamespaces empty (or set clusterWide: false)" }}
{{- end }}
{{- else if .Values.watchNamespaces }}
{{- .Values.watchNamespaces | uniq | join "," }}
{{- else }}
{{- .Release.Namespace }}
{{- end }}
{{- end }}

{{/* The namespaces worker Jobs run in, where they need their ServiceAccount and NetworkPolicy. */}}
{{- define "employes-sync.workerNamespaces" -}}
{{- if .Values.clusterWide }}
{{- prepend .Values.worker.serviceAccount.extraNamespaces .Release.Namespace | uniq | join "," }}
{{- else }}
{{- concat (splitList "," (include "employes-sync.watchNamespaces" .)) .Values.worker.serviceAccount.extraNamespaces | uniq | join "," }}
{{- end }}
{{- end }}

{{- define "employes-sync.simulatorName" -}}
{{- printf "%s-simulator" (include "employes-sync.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The API base URLs the operator allows, one per line: allowlist.apiUrls, plus the simulator's in-cluster
URLs when it is enabled (its short name, as in examples/, and its namespace-qualified names).
*/}}
{{- define "employes-sync.allowedApiUrls" -}}
{{- $urls := .Values.allowlist.apiUrls }}
{{- if .Values.simulator.enabled }}
{{- $name := include "employes-sync.simulatorName" . }}
{{- $port := .Values.simulator.port }}
{{- range $host := list $name (printf "%s.%s.svc" $name .Release.Namespace) (printf "%s.%s.svc.cluster.local" $name .Release.Namespace) }}
{{- $urls = append $urls (printf "http://%s:%v/v4" $host $port) }}
{{- end }}
{{- end }}
{{- $urls | uniq | join "\n" }}
{{- end }}

{{/* Pod-level hardening shared by every pod of the chart. */}}
{{- define "employes-sync.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsGroup }}
fsGroup: {{ .Values.securityContext.fsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Container-level hardening shared by every container of the chart. */}}
{{- define "employes-sync.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsGroup }}
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
privileged: false
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* The writable /tmp every container gets (the root filesystem is read-only). */}}
{{- define "employes-sync.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
{{- end }}

{{- define "employes-sync.tmpVolumeMount" -}}
- name: tmp
  mountPath: /tmp
{{- end }}

{{- /*
The operator's permissions, and nothing more (no wildcard anywhere):
  - its own resources: watch them, patch them (kopf's finalizers and progress annotations) and their status;
  - batch Jobs: create one per batch attempt and watch their outcome. It never deletes one (the owner
    reference and ttlSecondsAfterFinished do), but `delete` stays: a Job it creates carries an owner
    reference, and API servers with the OwnerReferencesPermissionEnforcement admission plugin (OpenShift,
    hardened clusters) let only a user who may delete an object set its owner references;
  - employessyncs/finalizers, update: the same plugin lets only a user who may update the owner's
    finalizers set blockOwnerDeletion, which each Job's owner reference carries (kopf.adopt), so without it
    there every Job create is refused (403). No such subresource exists: it is a permission only;
  - Pods: list a failed Job's pods, to say why it failed (OOMKilled, exit code, CreateContainerConfigError);
  - Secrets: read the token and DSN an EmployesSync references, by name (no list, no watch);
  - Events: post them (core v1, which kopf uses, and events.k8s.io for newer clients).
kopf runs standalone, so it needs no peering resources.
*/}}
{{- define "employes-sync.operatorRules" -}}
- apiGroups: ["employessync.io"]
  resources: ["employessyncs"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["employessync.io"]
  resources: ["employessyncs/status"]
  verbs: ["get", "patch"]
- apiGroups: ["employessync.io"]
  resources: ["employessyncs/finalizers"]
  verbs: ["update"]
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["create", "delete", "get", "list", "watch"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list"]
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}

{{/* Two or more replicas run as active + standby through kopf peering; one runs standalone. */}}
{{- define "employes-sync.peering" -}}
{{- if ge (int .Values.replicaCount) 2 }}true{{ end }}
{{- end }}

{{- define "employes-sync.peeringName" -}}
{{- default (include "employes-sync.fullname" .) .Values.peering.name }}
{{- end }}

{{/* What kopf's peering needs: read and watch the peering object, patch its status with keep-alives. */}}
{{- define "employes-sync.peeringRules" -}}
- apiGroups: ["kopf.dev"]
  resources: [{{ if .Values.clusterWide }}"clusterkopfpeerings"{{ else }}"kopfpeerings"{{ end }}]
  resourceNames: [{{ include "employes-sync.peeringName" . | quote }}]
  verbs: ["get", "list", "watch", "patch"]
{{- end }}
