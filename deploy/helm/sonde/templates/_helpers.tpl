{{/* Names and labels. */}}
{{- define "sonde.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "sonde.fullname" -}}
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

{{- define "sonde.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sonde.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "sonde.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "sonde.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: agent
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "sonde.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "sonde.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "sonde.secretName" -}}
{{- if .Values.secret.existingSecret -}}
{{- .Values.secret.existingSecret -}}
{{- else if .Values.secret.create -}}
{{- printf "%s-env" (include "sonde.fullname" .) -}}
{{- end -}}
{{- end -}}

{{- define "sonde.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/*
Runtime socket endpoints under the host's /run as mounted at host.root/run (the code's defaults,
re-rooted): containerd (standard, k3s, k0s), CRI-O, Docker (/var/run is /run).
*/}}
{{- define "sonde.runtimes" -}}
{{- $run := printf "%s/run" .Values.host.root -}}
docker:
  endpoints: [{{ printf "%s/docker.sock" $run }}]
containerd:
  endpoints: [{{ printf "%s/containerd/containerd.sock" $run }}, {{ printf "%s/k3s/containerd/containerd.sock" $run }}, {{ printf "%s/k0s/containerd.sock" $run }}]
crio:
  endpoints: [{{ printf "%s/crio/crio.sock" $run }}]
{{- end -}}

{{/*
The agent's config: .Values.config with
  - host paths filled into the components that read the host (values the user set win), and
  - the enabled `backends` added as exporters to every pipeline of a signal they support.
*/}}
{{- define "sonde.config" -}}
{{- $cfg := deepCopy (.Values.config | default dict) -}}
{{- range $section := list "receivers" "processors" "exporters" -}}
{{- if not (get $cfg $section) -}}{{- $_ := set $cfg $section dict -}}{{- end -}}
{{- end -}}
{{- if .Values.host.applyToConfig -}}
{{- $root := .Values.host.root -}}
{{- $runtimes := include "sonde.runtimes" . | fromYaml -}}
{{- $defaults := dict
    "receivers" (dict
      "node" (dict "root_path" $root)
      "cgroups" (dict "root_path" $root "runtimes" $runtimes)
      "ebpf" (dict "proc_root" (printf "%s/proc" $root) "cgroup_root" (printf "%s/sys/fs/cgroup" $root) "mount_tracefs" false))
    "processors" (dict
      "cgroup" (dict "root_path" $root)
      "container" (dict "runtimes" $runtimes)) -}}
{{- range $section, $byType := $defaults -}}
{{- $components := get $cfg $section -}}
{{- range $id, $c := $components -}}
{{- $type := first (splitList "/" $id) -}}
{{- if hasKey $byType $type -}}
{{- $_ := set $components $id (merge (deepCopy ($c | default dict)) (deepCopy (get $byType $type))) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $b := .Values.backends -}}
{{- $added := list -}}
{{- if $b.otlp.enabled -}}
{{- $e := dict "endpoint" $b.otlp.endpoint -}}
{{- if $b.otlp.insecure -}}{{- $_ := set $e "tls" (dict "insecure" true) -}}{{- end -}}
{{- if $b.otlp.headers -}}{{- $_ := set $e "headers" $b.otlp.headers -}}{{- end -}}
{{- $added = append $added (dict "id" "otlp" "config" $e "signals" $b.otlp.signals) -}}
{{- end -}}
{{- if $b.prometheusremotewrite.enabled -}}
{{- $e := dict "endpoint" $b.prometheusremotewrite.endpoint -}}
{{- if $b.prometheusremotewrite.bearerToken -}}{{- $_ := set $e "bearer_token" $b.prometheusremotewrite.bearerToken -}}{{- end -}}
{{- if $b.prometheusremotewrite.headers -}}{{- $_ := set $e "headers" $b.prometheusremotewrite.headers -}}{{- end -}}
{{- $added = append $added (dict "id" "prometheusremotewrite" "config" $e "signals" (list "metrics")) -}}
{{- end -}}
{{- if $b.clickhouse.enabled -}}
{{- $e := dict "endpoint" $b.clickhouse.endpoint "database" $b.clickhouse.database "username" $b.clickhouse.username "password" $b.clickhouse.password "ttl" $b.clickhouse.ttl -}}
{{- $added = append $added (dict "id" "clickhouse" "config" $e "signals" $b.clickhouse.signals) -}}
{{- end -}}
{{- range $a := $added -}}
{{- if not (hasKey $cfg.exporters $a.id) -}}{{- $_ := set $cfg.exporters $a.id $a.config -}}{{- end -}}
{{- range $pname, $p := (($cfg.service | default dict).pipelines | default dict) -}}
{{- if has (first (splitList "/" $pname)) $a.signals -}}
{{- $_ := set $p "exporters" (append ($p.exporters | default list) $a.id | uniq) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- /* the Collector's section order; toYaml would sort them */ -}}
{{- range $section := list "receivers" "processors" "exporters" "extensions" "service" -}}
{{- if hasKey $cfg $section }}
{{ toYaml (dict $section (get $cfg $section)) }}
{{- end -}}
{{- end -}}
{{- range $k, $v := $cfg -}}
{{- if not (has $k (list "receivers" "processors" "exporters" "extensions" "service")) }}
{{ toYaml (dict $k $v) }}
{{- end -}}
{{- end -}}
{{- end -}}
