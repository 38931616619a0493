// Validates rendered objects against the Kubernetes OpenAPI schemas (kubernetes-models, generated
// from the API's OpenAPI spec; the Prometheus Operator's CRDs for ServiceMonitor), plus a strict
// check for unknown container fields, which the OpenAPI schemas allow through.
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor'
import { Deployment } from 'kubernetes-models/apps/v1/Deployment'
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap'
import { Secret } from 'kubernetes-models/v1/Secret'
import { Service } from 'kubernetes-models/v1/Service'
import type { K8sObject } from './seed.ts'

// The models' constructors take their own typed shapes; a rendered object is checked by validate().
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'apps/v1/Deployment': Deployment,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
}

// io.k8s.api.core.v1.Container's properties (Kubernetes 1.32).
const CONTAINER_FIELDS = new Set([
  'name',
  'image',
  'command',
  'args',
  'workingDir',
  'ports',
  'envFrom',
  'env',
  'resources',
  'resizePolicy',
  'restartPolicy',
  'volumeMounts',
  'volumeDevices',
  'livenessProbe',
  'readinessProbe',
  'startupProbe',
  'lifecycle',
  'terminationMessagePath',
  'terminationMessagePolicy',
  'imagePullPolicy',
  'securityContext',
  'stdin',
  'stdinOnce',
  'tty',
])

/** Problems with one object, as sentences; empty when it is valid. */
export function validateObject(obj: K8sObject): string[] {
  const key = `${obj.apiVersion}/${obj.kind}`
  const Model = MODELS[key]
  if (!Model) return [`${key} ${obj.metadata?.name}: no schema known for this kind`]
  const problems: string[] = []
  try {
    new Model(obj as never).validate()
  } catch (err) {
    problems.push(`${key} ${obj.metadata.name}: ${(err as Error).message}`)
  }
  const spec = obj.kind === 'Deployment' ? obj.spec?.template?.spec : undefined
  for (const c of [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])]) {
    for (const f of Object.keys(c)) {
      if (!CONTAINER_FIELDS.has(f))
        problems.push(`${key} ${obj.metadata.name}: container ${c.name} has unknown field ${f}`)
    }
  }
  return problems
}
