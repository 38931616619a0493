// Writes the Prometheus text format (0.0.4) of the sources' families by hand: the header of each
// family once, then the samples of every target, then `<source>_up`. Label strings of a target are
// built once; a scrape only joins numbers into them. Spec:
// https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format

import type { Source } from './source.ts'
import type { Target, TargetResult } from './target.ts'

/** Escapes a label value: backslash, double quote and line feed. */
export function escapeLabelValue(v: string): string {
  return /[\\"\n]/.test(v) ? v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') : v
}

/** Escapes HELP text: backslash and line feed. */
export function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')
}

export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN'
  if (v === Number.POSITIVE_INFINITY) return '+Inf'
  if (v === Number.NEGATIVE_INFINITY) return '-Inf'
  return String(v)
}

/** `{a="1",b="2"}` from label pairs, sorted by name as client_golang prints them; '' when empty. */
export function renderLabels(pairs: ReadonlyArray<readonly [string, string]>): string {
  if (pairs.length === 0) return ''
  // A later pair wins over an earlier one of the same name (a sample's own label over a const label).
  const sorted = [...new Map(pairs).entries()].sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0))
  return `{${sorted.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(',')}}`
}

/** One source and the targets scraped for it, with the labels each target's series carry. */
export interface SourceGroup {
  source: Source
  members: Array<{ target: Target; pairs: ReadonlyArray<readonly [string, string]>; labels: string }>
  /** HELP and TYPE lines of each family, then of the up metric, built once. */
  headers: string[]
  upHeader: string
}

export function familyHeader(name: string, type: string, help: string): string {
  return `# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${type}\n`
}

export function makeGroup(
  source: Source,
  members: Array<{ target: Target; pairs: Array<readonly [string, string]> }>,
): SourceGroup {
  return {
    source,
    members: members.map((m) => ({ ...m, labels: renderLabels(m.pairs) })),
    headers: source.families.map((f) => familyHeader(f.name, f.type, f.help)),
    upHeader: familyHeader(source.up.name, source.up.type, source.up.help),
  }
}

/** The exposition text of one group, given each member's result (same order as members). */
export function renderGroup(group: SourceGroup, results: readonly TargetResult[]): string {
  let out = ''
  const families = group.source.families
  const members = group.members
  for (let f = 0; f < families.length; f++) {
    let lines = ''
    for (let t = 0; t < members.length; t++) {
      const r = results[t]!
      if (!r.ok) continue
      const m = members[t]!
      for (const s of r.samples) {
        if (s.family !== f) continue
        const labels = s.labels ? renderLabels([...m.pairs, ...Object.entries(s.labels)]) : m.labels
        lines += `${families[f]!.name}${labels} ${formatValue(s.value)}\n`
      }
    }
    if (lines !== '') out += group.headers[f]! + lines
  }
  out += group.upHeader
  const up = group.source.up.name
  for (let t = 0; t < members.length; t++) {
    out += `${up}${members[t]!.labels} ${results[t]!.ok ? 1 : 0}\n`
  }
  return out
}
