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

{{/* Pod labels: the selector plus the version, which Istio's telemetry uses. */}}
{{- define "zt-authz.podLabels" -}}
{{ include "zt-authz.selector" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{- define "zt-authz.redisSelector" -}}
app.kubernetes.io/name: zt-authz-redis
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "zt-authz.serviceAccount" -}}
{{- default (include "zt-authz.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "zt-authz.replicated" -}}
{{- if or .Values.hpa.enabled (gt (int .Values.replicaCount) 1) -}}true{{- end -}}
{{- end -}}

{{- define "zt-authz.bundledRedis" -}}
{{- if and (eq .Values.revocations.store "redis") .Values.redis.enabled -}}true{{- end -}}
{{- end -}}

{{- define "zt-authz.hmacSecret" -}}
{{- default (printf "%s-hmac" (include "zt-authz.fullname" .)) .Values.revocations.redis.hmacKey.existingSecret -}}
{{- end -}}

{{/* The DPoP nonce key: mounted when the chart generates it or a Secret of
     the operator's is named. Its path is fixed, so the config can name it. */}}
{{- define "zt-authz.nonceKey" -}}
{{- if or .Values.dpop.nonceKey.create .Values.dpop.nonceKey.existingSecret -}}true{{- end -}}
{{- end -}}

{{- define "zt-authz.nonceKeySecret" -}}
{{- default (printf "%s-dpop-nonce" (include "zt-authz.fullname" .)) .Values.dpop.nonceKey.existingSecret -}}
{{- end -}}

{{- define "zt-authz.nonceKeyDir" -}}/etc/zt-authz-dpop{{- end -}}

{{- define "zt-authz.nonceKeyPath" -}}{{ include "zt-authz.nonceKeyDir" . }}/nonce-key{{- end -}}

{{- define "zt-authz.revocationClaim" -}}
{{- default (printf "%s-revocations" (include "zt-authz.fullname" .)) .Values.revocations.embedded.existingClaim -}}
{{- end -}}

{{/* A Kubernetes memory quantity in bytes, as a float. */}}
{{- define "zt-authz.bytes" -}}
{{- $q := toString . -}}
{{- $units := dict "Ki" 1024.0 "Mi" 1048576.0 "Gi" 1073741824.0 "Ti" 1099511627776.0 "k" 1000.0 "M" 1000000.0 "G" 1000000000.0 "T" 1000000000000.0 -}}
{{- $n := regexFind "^[0-9.]+" $q -}}
{{- $unit := trimPrefix $n $q -}}
{{- if not $n -}}{{- fail (printf "resources.limits.memory: cannot read the quantity %q" $q) -}}{{- end -}}
{{- if eq $unit "" -}}{{ float64 $n }}
{{- else if hasKey $units $unit -}}{{ mulf (float64 $n) (get $units $unit) }}
{{- else -}}{{- fail (printf "resources.limits.memory: unknown unit in %q (use Mi or Gi)" $q) -}}
{{- end -}}
{{- end -}}

{{/* The rules a deployment must follow; each refuses to render with the
     reason. Included by every workload template. */}}
{{- define "zt-authz.validate" -}}
{{- $store := .Values.revocations.store -}}
{{- if and (include "zt-authz.replicated" .) (ne $store "redis") -}}
{{- fail (printf "revocations.store: %s keeps revocations in one pod's file, so with replicaCount %v or hpa.enabled a revocation accepted by one pod would not reach the others. Set revocations.store: redis (redis.enabled: true deploys a Redis with the chart), or run one replica with hpa.enabled: false." $store .Values.replicaCount) -}}
{{- end -}}
{{- if and (eq $store "redis") (not .Values.redis.enabled) (not .Values.revocations.redis.url) -}}
{{- fail "revocations.store: redis needs a Redis: set redis.enabled: true (deployed with the chart) or revocations.redis.url (redis:// or rediss://)." -}}
{{- end -}}
{{- $limit := dig "limits" "memory" "" .Values.resources -}}
{{- if not $limit -}}
{{- fail "resources.limits.memory is required: revocations live in memory (about 64Mi plus 200 bytes per active revocation)." -}}
{{- end -}}
{{- $need := addf 67108864.0 (mulf 200.0 (float64 .Values.revocations.capacity)) -}}
{{- if lt (float64 (include "zt-authz.bytes" $limit)) $need -}}
{{- fail (printf "resources.limits.memory %s is too small for revocations.capacity %v: about 64Mi + 200 B per active revocation, i.e. at least %dMi." $limit .Values.revocations.capacity (int (ceil (divf $need 1048576.0)))) -}}
{{- end -}}
{{- include "zt-authz.validateFiles" . -}}
{{- end -}}

{{/* The files the config names must be the ones the chart mounts: a wrong
     name would otherwise be found only by the pods, at start (crash loop)
     or at reload (refused, the old config keeps deciding unnoticed). */}}
{{- define "zt-authz.validateFiles" -}}
{{- $nonce := .Values.dpop.nonceKey -}}
{{- $nonceKey := include "zt-authz.nonceKeyPath" . -}}
{{- if and $nonce.create $nonce.existingSecret -}}
{{- fail "dpop.nonceKey: set create: true (the chart generates the key) or existingSecret (a Secret of yours), not both." -}}
{{- end -}}
{{- range $i, $issuer := default (list) .Values.config.issuers -}}
{{- $dpop := default (dict) $issuer.dpop -}}
{{- $file := toString (default "" $dpop.nonce_key_file) -}}
{{- if or $file $dpop.require_nonce -}}
{{- if not (include "zt-authz.nonceKey" $) -}}
{{- fail (printf "config.issuers[%d].dpop: nonces need a key shared by every replica: set dpop.nonceKey.create: true or dpop.nonceKey.existingSecret, and nonce_key_file: %s." $i $nonceKey) -}}
{{- else if ne $file $nonceKey -}}
{{- fail (printf "config.issuers[%d].dpop.nonce_key_file is %q, but the chart mounts the nonce key (dpop.nonceKey) at %s: set nonce_key_file to that path." $i $file $nonceKey) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $files := default (dict) .Values.policyFiles -}}
{{- range $i, $policy := default (list) .Values.config.policies -}}
{{- $rego := default (dict) $policy.rego -}}
{{- $named := list -}}
{{- if kindIs "slice" $rego.module -}}{{- $named = $rego.module -}}{{- else if $rego.module -}}{{- $named = list $rego.module -}}{{- end -}}
{{- if $rego.data -}}{{- $named = append $named $rego.data -}}{{- end -}}
{{- range $named -}}
{{- $f := toString . -}}
{{- /* Absolute paths and paths out of the config directory are the
       operator's own (an image or volume of theirs); everything under it
       comes from policyFiles. */ -}}
{{- if not (or (hasPrefix "/" $f) (hasPrefix "../" $f)) -}}
{{- if not (hasKey $files (trimPrefix "./" $f)) -}}
{{- fail (printf "config.policies[%d].rego names %q, which is not a key of policyFiles. policyFiles are mounted flat beside config.yaml: add the file there and name it by its key (module: tenant.rego)." $i $f) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The settings zt-authz reads only when it starts: the listen ports and
     the revocation settings, whose leeway follows the issuers' largest
     leeway (a reload that changes it is refused). The pod template carries
     their checksum, so a change of them rolls the pods; any other config
     change is reloaded in place (zt-authz polls its config file). */}}
{{- define "zt-authz.restartChecksum" -}}
{{- $leeways := list -}}
{{- range (default (list) .Values.config.issuers) -}}
{{- $leeways = append $leeways (toString (default "" .leeway)) -}}
{{- end -}}
{{- dict "grpcPort" .Values.grpcPort "adminPort" .Values.adminPort "revocations" .Values.revocations "bundledRedis" .Values.redis.enabled "issuerLeeways" $leeways | toJson | sha256sum -}}
{{- end -}}

{{/* A secret value kept across upgrades: the existing Secret's, or a new
     random one. Arguments: (list $ secretName key length). */}}
{{- define "zt-authz.secretValue" -}}
{{- $ctx := index . 0 -}}{{- $name := index . 1 -}}{{- $key := index . 2 -}}{{- $len := index . 3 -}}
{{- $existing := lookup "v1" "Secret" $ctx.Release.Namespace $name -}}
{{- if and $existing (hasKey (default (dict) $existing.data) $key) -}}
{{- index $existing.data $key | b64dec -}}
{{- else -}}
{{- randAlphaNum $len -}}
{{- end -}}
{{- end -}}

{{/* The zt-authz config file: the user's config with the chart's ports,
     revocation store and admin settings laid over it. Argument:
     (dict "ctx" $ "redisPassword" PASSWORD). */}}
{{- define "zt-authz.config" -}}
{{- $ctx := .ctx -}}
{{- $v := $ctx.Values -}}
{{- $server := merge (dict "grpc_addr" (printf "0.0.0.0:%v" $v.grpcPort) "admin_addr" (printf "0.0.0.0:%v" $v.adminPort)) (default (dict) $v.config.server) -}}
{{- $rev := dict "store" $v.revocations.store "path" "/var/lib/zt-authz/revocations.redb" "max_token_lifetime" $v.revocations.maxTokenLifetime -}}
{{- if eq $v.revocations.store "redis" -}}
{{- if $v.redis.enabled -}}
{{- $_ := set $rev "redis_url" (printf "redis://:%s@%s-redis.%s.svc.cluster.local:6379" .redisPassword (include "zt-authz.fullname" $ctx) $ctx.Release.Namespace) -}}
{{- else -}}
{{- $_ := set $rev "redis_url" $v.revocations.redis.url -}}
{{- end -}}
{{- $_ := set $rev "redis_prefix" $v.revocations.redis.prefix -}}
{{- $_ := set $rev "redis_hmac_key_file" (printf "/etc/zt-authz-hmac/%s" $v.revocations.redis.hmacKey.secretKey) -}}
{{- end -}}
{{- $config := merge (dict "server" $server "revocations" $rev) (omit $v.config "server" "revocations") -}}
{{- if $v.admin.issuer -}}
{{- $_ := set $config "admin" (dict "issuer" $v.admin.issuer "scope" $v.admin.scope) -}}
{{- end -}}
{{- /* zt-authz reloads when config.yaml's bytes change; it does not watch
       the files beside it. Their checksum in a comment makes a change of
       a file alone a change of config.yaml, and kubelet swaps every key of
       the Secret at once, so the reload reads the new files. */ -}}
{{- with $v.policyFiles -}}
# policyFiles sha256 (changes with them, so zt-authz reloads): {{ toJson . | sha256sum }}
{{ end -}}
{{- toYaml $config -}}
{{- end -}}
