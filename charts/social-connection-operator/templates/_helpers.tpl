{{/* The chart name, possibly overridden. */}}
{{- define "sco.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of object names: <release>-<chart>, or the release name alone when it already
contains the chart name. Cut to 63 characters, the DNS label limit.
*/}}
{{- define "sco.fullname" -}}
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

{{- define "sco.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels every object carries (the app.kubernetes.io recommended set). */}}
{{- define "sco.labels" -}}
helm.sh/chart: {{ include "sco.chart" . }}
{{ include "sco.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: social-connection-operator
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The labels the Deployment selects its pod by; never change them (the selector is immutable). */}}
{{- define "sco.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sco.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "sco.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "sco.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* image reference: repository@digest, or repository:tag (tag defaults to appVersion). */}}
{{- define "sco.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
The operator's permissions, the same rules for the ClusterRole (all namespaces) and for each
namespaced Role (watchNamespaces). Each rule says why it exists; nothing else is granted. The
end-to-end suite proves it from the API server's audit log: every verb here was used by the
operator in a chart scenario, and it was refused nothing (tests/e2e/rbac_audit.rs). A feature
that needs a new verb adds it here together with the scenario that uses it.
*/}}
{{- define "sco.rules" -}}
# Secrets are watched as metadata only (list, watch), so a changed Secret wakes the connections
# that reference it, and read one at a time when a connection is checked (get). Written only to
# store a refreshed token (update: a PUT carrying the resourceVersion just read, so a concurrent
# writer makes it fail), and only into Secrets labelled social.connections.dev/managed: "true",
# which the operator checks itself on the object it is about to write (RBAC cannot select by
# label).
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch", "update"]
# Events are recorded with the events.k8s.io/v1 API (kube-runtime's Recorder), one per
# transition: create. (The Recorder patches an Event only for a repeat on the same object
# version, which one Event per transition never makes.)
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create"]
# The controller's list and watch of SocialConnections; patch adds and releases the finalizer
# social.connections.dev/revoke (spec.revokeOnDelete), a JSON patch of metadata.finalizers.
- apiGroups: ["social.connections.dev"]
  resources: ["socialconnections"]
  verbs: ["list", "watch", "patch"]
# Status is written by server-side apply (a PATCH of the status subresource).
- apiGroups: ["social.connections.dev"]
  resources: ["socialconnections/status"]
  verbs: ["patch"]
# SocialNotificationPolicies are kept in a watch cache (list, watch); notices are recorded in
# the connection's status (socialconnections/status patch, above) and receiver Secrets are read
# with the Secret get above.
- apiGroups: ["social.connections.dev"]
  resources: ["socialnotificationpolicies"]
  verbs: ["list", "watch"]
{{- if .Values.connect.enabled }}
# The connect flow reads the SocialConnection a link names (get); its callback stores the new
# token: it creates the token Secret of a first connection (labelled managed, owned by nobody)
# and updates the token keys of a Secret that carries the opt-in label; then it asks for a
# check by annotating the SocialConnection (patch).
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["create", "update"]
- apiGroups: ["social.connections.dev"]
  resources: ["socialconnections"]
  verbs: ["get", "patch"]
{{- end }}
{{- end }}

{{/* The leader Lease's name. */}}
{{- define "sco.leaseName" -}}
{{- default (include "sco.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}

{{/*
Leader election (kube-lease-manager), in the release namespace only: it reads the Lease (get),
creates it when it is missing (create, which RBAC cannot limit to a name), and renews, takes over
and releases it with patches (server-side apply and strategic merge; never update). get and
patch only on this one Lease. Proven from the audit log like sco.rules.
*/}}
{{- define "sco.leaseRules" -}}
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  verbs: ["create"]
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  resourceNames: [{{ include "sco.leaseName" . | quote }}]
  verbs: ["get", "patch"]
{{- end }}
