// Temporary directories that tests clean up, optionally owned by another user (PostgreSQL).

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface TempDir {
  path: string
  cleanup(): void
}

export function tempDir(prefix = 'podkit-'): TempDir {
  const path = mkdtempSync(join(tmpdir(), prefix))
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) }
}
