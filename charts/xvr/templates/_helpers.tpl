{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "xvr.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name: <release>-<chart>, or the release name when it already
contains the chart name. */}}
{{- define "xvr.fullname" -}}
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

{{- define "xvr.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels that never change for the life of a release: the DaemonSet's
selector (immutable) uses only these. */}}
{{- define "xvr.selectorLabels" -}}
app.kubernetes.io/name: {{ include "xvr.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: agent
{{- end -}}

{{- define "xvr.labels" -}}
helm.sh/chart: {{ include "xvr.chart" . }}
{{ include "xvr.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: xvr
{{- end -}}

{{- define "xvr.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "xvr.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "xvr.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/* The agent's unix socket: in hostPaths.run, named as in the conflist. */}}
{{- define "xvr.agentSocket" -}}
{{- printf "%s/agent.sock" (.Values.hostPaths.run | trimSuffix "/") -}}
{{- end -}}

{{- define "xvr.metricsAddress" -}}
{{- if .Values.metrics.enabled -}}
{{- printf "%s:%d" .Values.metrics.bindAddress (int .Values.metrics.port) -}}
{{- end -}}
{{- end -}}

{{/* The VRouter spec from values: empty optional fields dropped (the agent
and the CRD treat absence as "default"), paths derived from hostPaths, the
metrics listener from metrics. */}}
{{- define "xvr.vrouterSpec" -}}
{{- $s := .Values.vrouter.spec -}}
{{- if not (has $s.agentModeType (list "xdp" "xdp-generic")) -}}
{{- fail (printf "vrouter.spec.agentModeType must be xdp or xdp-generic, got %v" $s.agentModeType) -}}
{{- end -}}
{{- if not (has $s.podAttach (list "xdp" "tc")) -}}
{{- fail (printf "vrouter.spec.podAttach must be xdp or tc, got %v" $s.podAttach) -}}
{{- end -}}
{{- $spec := dict "agentModeType" $s.agentModeType "podAttach" $s.podAttach -}}
{{- with $s.fabricInterface }}{{ $_ := set $spec "fabricInterface" . }}{{ end -}}
{{- with $s.mtu }}{{ $_ := set $spec "mtu" (int .) }}{{ end -}}
{{- with $s.clusterCIDR }}{{ $_ := set $spec "clusterCIDR" . }}{{ end -}}
{{- with $s.serviceCIDR }}{{ $_ := set $spec "serviceCIDR" . }}{{ end -}}
{{- $_ := set $spec "masquerade" $s.masquerade -}}
{{- $_ := set $spec "overlay" (dict "type" $s.overlay.type "port" (int $s.overlay.port) "vni" (int $s.overlay.vni)) -}}
{{- $_ := set $spec "bpfRoot" (printf "%s/xvr" (.Values.hostPaths.bpf | trimSuffix "/")) -}}
{{- $_ := set $spec "apiSocket" (include "xvr.agentSocket" .) -}}
{{- $_ := set $spec "stateDir" .Values.hostPaths.state -}}
{{- $_ := set $spec "metricsAddress" (include "xvr.metricsAddress" .) -}}
{{- $_ := set $spec "logLevel" $s.logLevel -}}
{{- $_ := set $spec "logFormat" $s.logFormat -}}
{{- $_ := set $spec "eventsPerSecond" (int $s.eventsPerSecond) -}}
{{- $f := $s.flows -}}
{{- $timeouts := dict -}}
{{- range $k, $v := $f.timeouts }}{{ $_ := set $timeouts $k (int $v) }}{{ end -}}
{{- $flows := dict "tableSize" (int $f.tableSize) "gcInterval" (int $f.gcInterval) "events" $f.events "timeouts" $timeouts -}}
{{- if $f.log.enabled -}}
{{- $_ := set $flows "log" (dict "path" (printf "%s/flows.log" (.Values.hostPaths.log | trimSuffix "/")) "maxSizeMB" (int $f.log.maxSizeMB) "maxFiles" (int $f.log.maxFiles)) -}}
{{- end -}}
{{- $_ := set $spec "flows" $flows -}}
{{- toYaml $spec -}}
{{- end -}}

{{/* A whole VRouter object (the CR and the ConfigMap's file copy). */}}
{{- define "xvr.vrouter" -}}
apiVersion: xvr.dev/v1alpha1
kind: VRouter
metadata:
  name: {{ .Values.agent.vrouterName }}
  labels:
    {{- include "xvr.labels" . | nindent 4 }}
spec:
  {{- include "xvr.vrouterSpec" . | nindent 2 }}
{{- end -}}

{{/* The CNI network configuration list installed on every node. */}}
{{- define "xvr.conflist" -}}
{{- $plugin := dict "type" "xvr-cni" "agentSocket" (include "xvr.agentSocket" .) -}}
{{- $conf := dict "cniVersion" "1.1.0" "cniVersions" (list "1.0.0" "1.1.0") "name" .Values.cni.networkName "plugins" (list $plugin) -}}
{{- toJson $conf -}}
{{- end -}}
