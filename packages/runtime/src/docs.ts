// Helpers for the test every package has: each error code is documented in its README, and the
// README names no code that no longer exists.

// process.getBuiltinModule, not an ESM import: see admin-server.ts (the module facade costs memory).
const { readFileSync } = process.getBuiltinModule('node:fs')

/** Every `code = 'PODKIT_...'` declared in an errors.ts source file. */
export function documentedCodes(errorsSourcePath: string): string[] {
  const text = readFileSync(errorsSourcePath, 'utf8')
  return [...text.matchAll(/code(?:\s*:\s*\w+)?\s*=\s*'(PODKIT_[A-Z0-9_]+)'/g)].map((m) => m[1]!).sort()
}

/** Every PODKIT_* code a README mentions. */
export function readmeCodes(readmePath: string): string[] {
  const text = readFileSync(readmePath, 'utf8')
  return [...new Set([...text.matchAll(/\b(PODKIT_[A-Z0-9_]+)\b/g)].map((m) => m[1]!))].sort()
}

/** The text between `<!-- options:start -->` and `<!-- options:end -->` in a README, trimmed. */
export function readmeOptionsBlock(readmePath: string): string | undefined {
  const text = readFileSync(readmePath, 'utf8')
  const m = /<!-- options:start -->([\s\S]*?)<!-- options:end -->/.exec(text)
  return m?.[1]?.trim()
}

/**
 * A markdown table with its cell padding removed, to compare a README's table with the one the
 * code renders: a markdown formatter aligns columns, the content is what counts.
 */
export function unpadTable(table: string | undefined): string {
  return (table ?? '')
    .trim()
    .split('\n')
    .map((row) =>
      row
        .trim()
        .split(/(?<!\\)\|/)
        .map((cell) => cell.trim().replace(/^-+$/, '---'))
        .join('|'),
    )
    .join('\n')
}
