// Reads the seed document's YAML examples, so tests can compare our manifests with them.
import { readFileSync } from 'node:fs'
import { parseAllDocuments } from 'yaml'
import { seedPath } from './paths.ts'

export type K8sObject = {
  apiVersion: string
  kind: string
  metadata: { name: string } & Record<string, any>
} & Record<string, any>

/** Every Kubernetes object in the seed's ```yaml blocks (fragments that are not objects are left out). */
export function seedObjects(): K8sObject[] {
  const md = readFileSync(seedPath(), 'utf8')
  const out: K8sObject[] = []
  for (const m of md.matchAll(/```yaml\n([\s\S]*?)```/g)) {
    for (const doc of parseAllDocuments(m[1]!)) {
      const v = doc.toJS() as K8sObject | null
      if (v && typeof v === 'object' && typeof v.kind === 'string' && v.metadata?.name) out.push(v)
    }
  }
  return out
}

export function seedConfigMapData(name: string): Record<string, string> {
  const cm = seedObjects().find((o) => o.kind === 'ConfigMap' && o.metadata.name === name)
  if (!cm) throw new Error(`the seed has no ConfigMap ${name}`)
  return cm.data as Record<string, string>
}

/** The seed's "Security Best Practices": the pod and container security contexts. */
export const SEED_POD_SECURITY = {
  runAsNonRoot: true,
  runAsUser: 1000,
  fsGroup: 1000,
  seccompProfile: { type: 'RuntimeDefault' },
}
export const SEED_CONTAINER_SECURITY = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'] },
}
