{{- define "masqd.name" -}}masqd{{- end -}}

{{- define "masqd.labels" -}}
app.kubernetes.io/name: masqd
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "masqd.selector" -}}
app.kubernetes.io/name: masqd
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "masqd.serviceAccount" -}}
{{- default "masqd" .Values.serviceAccount.name -}}
{{- end -}}

{{- define "masqd.image" -}}
{{ .Values.image.repository }}:{{ default .Chart.AppVersion .Values.image.tag }}
{{- end -}}

{{/* IP:PORT, with an IPv6 literal bracketed */}}
{{- define "masqd.hostport" -}}
{{- if contains ":" .ip -}}[{{ .ip }}]:{{ .port }}{{- else -}}{{ .ip }}:{{ .port }}{{- end -}}
{{- end -}}

{{- define "masqd.monitored" -}}
{{- if or .Values.monitoring.podMonitor .Values.monitoring.serviceMonitor -}}true{{- end -}}
{{- end -}}
