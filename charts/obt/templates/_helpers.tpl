{{/* Chart name, truncated to the 63 characters a label allows. */}}
{{- define "obt.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-qualified name; the release name alone when it already contains the chart name. */}}
{{- define "obt.fullname" -}}
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

{{/* Name of one component's objects: "<fullname>-<component>". Call with (list . "agent"). */}}
{{- define "obt.componentName" -}}
{{- $root := index . 0 }}
{{- printf "%s-%s" (include "obt.fullname" $root) (index . 1) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. Call with (list . "agent"). */}}
{{- define "obt.labels" -}}
{{- $root := index . 0 -}}
helm.sh/chart: {{ printf "%s-%s" $root.Chart.Name $root.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "obt.selectorLabels" . }}
app.kubernetes.io/version: {{ $root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ $root.Release.Service }}
app.kubernetes.io/part-of: obt
{{- end }}

{{/* Selector labels: stable for the life of a release. Call with (list . "agent"). */}}
{{- define "obt.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "obt.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{/* ServiceAccount name of a component. Call with (list . "agent"). */}}
{{- define "obt.serviceAccountName" -}}
{{- $root := index . 0 }}
{{- $component := index . 1 }}
{{- $sa := (index $root.Values $component).serviceAccount }}
{{- if $sa.create }}
{{- default (include "obt.componentName" .) $sa.name }}
{{- else }}
{{- default "default" $sa.name }}
{{- end }}
{{- end }}

{{/* Image reference of a component: registry/repository:tag, tag defaulting to appVersion. */}}
{{- define "obt.image" -}}
{{- $root := index . 0 }}
{{- $image := (index $root.Values (index . 1)).image }}
{{- $registry := default $root.Values.image.registry $image.registry }}
{{- $tag := default $root.Chart.AppVersion $image.tag }}
{{- if $image.digest }}
{{- printf "%s/%s@%s" $registry $image.repository $image.digest }}
{{- else }}
{{- printf "%s/%s:%s" $registry $image.repository $tag }}
{{- end }}
{{- end }}

{{/* Container security context meeting the "restricted" Pod Security Standard. */}}
{{- define "obt.restrictedContainerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Pod security context for our images: numeric non-root user (the images' USER). */}}
{{- define "obt.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.podSecurity.runAsUser }}
runAsGroup: {{ .Values.podSecurity.runAsGroup }}
fsGroup: {{ .Values.podSecurity.runAsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Env shared by every component: identity from the downward API, logging. */}}
{{- define "obt.commonEnv" -}}
- name: OBT_POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: OBT_POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: OBT_LOG__LEVEL
  value: {{ .Values.log.level | quote }}
- name: OBT_LOG__FORMAT
  value: {{ .Values.log.format | quote }}
{{- end }}

{{/* Secret holding the external database URL. */}}
{{- define "obt.databaseSecretName" -}}
{{- default (include "obt.componentName" (list . "database")) .Values.database.existingSecret }}
{{- end }}

{{/* Secret holding the bundled PostgreSQL's password (key `password`). */}}
{{- define "obt.postgresqlSecretName" -}}
{{- default (include "obt.componentName" (list . "postgresql")) .Values.postgresql.existingSecret }}
{{- end }}

{{/* Secret and key holding the API admin token. */}}
{{- define "obt.adminTokenSecretName" -}}
{{- default (include "obt.componentName" (list . "api")) .Values.api.adminToken.existingSecret }}
{{- end }}

{{/* A random secret that survives upgrades: reuse the value already stored in the cluster. */}}
{{- define "obt.persistentRandom" -}}
{{- $root := index . 0 }}
{{- $secretName := index . 1 }}
{{- $key := index . 2 }}
{{- $existing := lookup "v1" "Secret" $root.Release.Namespace $secretName }}
{{- if and $existing (hasKey $existing.data $key) }}
{{- index $existing.data $key | b64dec }}
{{- else }}
{{- randAlphaNum 40 }}
{{- end }}
{{- end }}

{{/* Selector labels as a label-selector string "k=v,k=v". Call with (list . "agent"). */}}
{{- define "obt.selectorString" -}}
{{- $pairs := list }}
{{- range $key, $value := include "obt.selectorLabels" . | fromYaml }}
{{- $pairs = append $pairs (printf "%s=%s" $key $value) }}
{{- end }}
{{- join "," $pairs }}
{{- end }}

{{/* Service in the Ollama pods' namespace that routes only to Ollama pods on the caller's node. */}}
{{- define "obt.ollamaLocalServiceName" -}}
{{- include "obt.componentName" (list . "ollama-node-local") }}
{{- end }}

{{/* The URL each agent calls to reach Ollama on its own node. */}}
{{- define "obt.ollamaUrl" -}}
{{- $ollama := .Values.agent.ollama }}
{{- if eq $ollama.discovery "hostIP" }}
{{- /* $(OBT_HOST_IP) is expanded by the kubelet: OBT_HOST_IP is defined earlier in env. */}}
{{- printf "%s://%s:%d" $ollama.scheme (ternary "127.0.0.1" "$(OBT_HOST_IP)" .Values.agent.hostNetwork) (int $ollama.port) }}
{{- else if eq $ollama.discovery "podSelector" }}
{{- $namespace := required "agent.ollama.podNamespace is required with agent.ollama.discovery=podSelector" $ollama.podNamespace }}
{{- printf "%s://%s.%s.svc:%d" $ollama.scheme (include "obt.ollamaLocalServiceName" .) $namespace (int $ollama.port) }}
{{- else }}
{{- required "agent.ollama.url is required with agent.ollama.discovery=url" $ollama.url }}
{{- end }}
{{- end }}

{{/* Agent profiles in precedence order (a node of two vendors gets the first one's agent), then
the catch-all `default`. A JSON list, for fromJsonArray. */}}
{{- define "obt.agentProfileOrder" -}}
["nvidia", "amd", "intel", "default"]
{{- end }}

{{/* Name of one profile's agent DaemonSet: "<fullname>-agent-<profile>". Call with (list . "nvidia"). */}}
{{- define "obt.agentName" -}}
{{- $root := index . 0 }}
{{- printf "%s-%s" (include "obt.componentName" (list $root "agent")) (index . 1) | trunc 63 | trimSuffix "-" }}
{{- end }}
