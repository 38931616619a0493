// `pnpm bench <scenario>`: runs bench/src/scenarios/<scenario>.ts and writes bench/results/.
import { readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type ScenarioResult, toMarkdown, writeResults } from './harness.ts'

const here = dirname(fileURLToPath(import.meta.url))
const available = readdirSync(join(here, 'scenarios'))
  .filter((f) => f.endsWith('.ts'))
  .map((f) => f.replace(/\.ts$/, ''))
const name = process.argv[2]
if (!name || !available.includes(name)) {
  console.error(`usage: pnpm bench <scenario>\nscenarios: ${available.join(', ') || '(none yet)'}`)
  process.exit(name ? 1 : 0)
}
const mod = (await import(join(here, 'scenarios', `${name}.ts`))) as {
  run(args: string[]): Promise<ScenarioResult[]>
}
const results = await mod.run(process.argv.slice(3))
writeResults(name, results)
console.log(`\n${toMarkdown(results)}`)
console.log(`results: bench/results/${name}.json and .md`)
process.exit(0)
