{{- define "zt-authz.name" -}}zt-authz{{- end -}}

{{- define "zt-authz.fullname" -}}
{{- if eq .Release.Name "zt-authz" -}}zt-authz{{- else -}}{{ printf "%s-zt-authz" .Release.Name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "zt-authz.labels" -}}
app.kubernetes.io/name: zt-authz
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "zt-authz.selector" -}}
app.kubernetes.io/name: zt-authz
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "zt-authz.serviceAccount" -}}
{{- default (include "zt-authz.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{/* The zt-authz config file: the user's config with the chart's ports,
     revocation store and admin settings laid over it. */}}
{{- define "zt-authz.config" -}}
{{- $server := merge (dict "grpc_addr" (printf "0.0.0.0:%v" .Values.grpcPort) "admin_addr" (printf "0.0.0.0:%v" .Values.adminPort)) (default (dict) .Values.config.server) -}}
{{- $rev := dict "path" "/var/lib/zt-authz/revocations.redb" "max_token_lifetime" .Values.revocations.maxTokenLifetime -}}
{{- if eq .Values.revocations.store "redis" -}}
{{- $_ := set $rev "store" "redis" -}}
{{- $_ := set $rev "redis_url" .Values.revocations.redis.url -}}
{{- $_ := set $rev "redis_prefix" .Values.revocations.redis.prefix -}}
{{- else -}}
{{- $_ := set $rev "store" "embedded" -}}
{{- end -}}
{{- $config := merge (dict "server" $server "revocations" $rev) (omit .Values.config "server") -}}
{{- if .Values.admin.issuer -}}
{{- $_ := set $config "admin" (dict "issuer" .Values.admin.issuer "scope" .Values.admin.scope) -}}
{{- end -}}
{{- toYaml $config -}}
{{- end -}}
