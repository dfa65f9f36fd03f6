{{/* Names, labels and the values every template derives from. */}}

{{- define "gitops-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "gitops-operator.fullname" -}}
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

{{- define "gitops-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gitops-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "gitops-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "gitops-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: gitops-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "gitops-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "gitops-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "gitops-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* More than one replica: leader election over a Lease decides which one reconciles. */}}
{{- define "gitops-operator.leaderElect" -}}
{{- if and (gt (int .Values.replicaCount) 1) (ne (include "gitops-operator.shardingMode" .) "hash") }}true{{ end }}
{{- end }}

{{/* off, hash or labels (sharding.mode; off when the values predate it). */}}
{{- define "gitops-operator.shardingMode" -}}
{{- $mode := "off" }}
{{- with .Values.sharding }}{{ $mode = default "off" (toString .mode) }}{{ end }}
{{- if and (eq $mode "labels") (not .Values.sharding.shards) }}
{{- fail "sharding.mode labels needs at least one entry in sharding.shards" }}
{{- end }}
{{- $mode }}
{{- end }}

{{- define "gitops-operator.leaseName" -}}
{{- printf "%s-leader" (include "gitops-operator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* GITOPS_WEBHOOK_SECRET is namespace/name; a bare name is in the release namespace. */}}
{{- define "gitops-operator.webhookSecret" -}}
{{- $secret := .Values.webhook.secret }}
{{- if and $secret (not (contains "/" $secret)) }}
{{- printf "%s/%s" .Release.Namespace $secret }}
{{- else }}
{{- $secret }}
{{- end }}
{{- end }}

{{/*
The operator's own rules, the same in both scopes (a ClusterRole or a Role). Least
privilege: what the code calls, nothing for "convenience".
*/}}
{{- define "gitops-operator.rules" -}}
# Watch the custom resources, add and remove the operator's finalizer, annotate them.
- apiGroups: [gitops-operator.dev]
  resources: [gitrepositories, applications]
  verbs: [get, list, watch, patch, update]
# Status is the record: conditions, inventory, history.
- apiGroups: [gitops-operator.dev]
  resources: [gitrepositories/status, applications/status]
  verbs: [get, patch, update]
# Notifications: Providers and Alerts are read from a watch (never written but for their
# status: spec errors, and a Provider's last delivery); the Provider that a
# GitRepository's spec.pullRequests names is also read by name (its Git host, and the
# Secret with the token that posts pull-request plans).
- apiGroups: [gitops-operator.dev]
  resources: [providers, alerts]
  verbs: [get, list, watch]
- apiGroups: [gitops-operator.dev]
  resources: [providers/status, alerts/status]
  verbs: [get, patch]
# Snapshot Secrets name their Application as owner (ownerReferences), which the
# OwnerReferencesPermissionEnforcement admission plugin lets only this verb do.
- apiGroups: [gitops-operator.dev]
  resources: [gitrepositories/finalizers, applications/finalizers]
  verbs: [update]
# Read Git credentials and the webhook Secret; create and update the rollback snapshots
# (Secrets gitops-snapshot-<application>, written by server-side apply).
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, create, patch, update]
# Watch ConfigMaps and Secrets so that a change of one that an Application's
# spec.postBuild.substituteFrom names syncs it again at once. Only the namespace and name
# of each event are looked at; nothing is kept. The values themselves are read with the
# Application's own ServiceAccount (impersonated), never through this rule.
- apiGroups: [""]
  resources: [configmaps, secrets]
  verbs: [list, watch]
# Events about Applications and GitRepositories.
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
# Multi-tenancy: an Application with spec.serviceAccountName (or the default account)
# is applied as system:serviceaccount:<namespace>:<name>. The operator sends only the
# Impersonate-User header; the API server then derives the account's groups itself and
# checks `impersonate` on the ServiceAccount alone (no users/groups rule is needed).
- apiGroups: [""]
  resources: [serviceaccounts]
  verbs: [impersonate]
# ... and the account is looked up first (by name), so that an Application whose account
# does not exist says so (ServiceAccountNotFound) instead of being refused everything.
- apiGroups: [""]
  resources: [serviceaccounts]
  verbs: [get]
{{- end }}
