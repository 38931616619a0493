// Notices entries appearing in the directories the tail source's globs walk, with one plain
// fs.watch (inotify on Linux) per directory, so a new file is picked up before the next refresh.
// It replaces chokidar (a dependency, and ~0.5-1.5 MiB resident in the bundled adapter) for what
// is here a "something changed in this directory, scan again" signal: the periodic scan stays
// the source of truth (it also covers watch errors, directories that do not exist yet and
// filesystems without inotify).

import { type FSWatcher, watch } from 'node:fs'

/** Directories beyond this many are left to the periodic scan (a `**` over a large tree). */
export const MAX_WATCHED_DIRS = 1024

export class DirWatch {
  private readonly watchers = new Map<string, FSWatcher>()
  private closed = false

  /** `onChange` runs on any event in a watched directory; `onError` gets failures to watch. */
  constructor(
    private readonly onChange: () => void,
    private readonly onError: (err: unknown, dir: string) => void,
  ) {}

  /** Watches exactly `dirs` (the directories the last scan walked): new ones added, gone ones closed. */
  update(dirs: ReadonlySet<string>): void {
    if (this.closed) return
    for (const [dir, w] of this.watchers) {
      if (!dirs.has(dir)) {
        w.close()
        this.watchers.delete(dir)
      }
    }
    for (const dir of dirs) {
      if (this.watchers.has(dir)) continue
      if (this.watchers.size >= MAX_WATCHED_DIRS) break
      let w: FSWatcher
      try {
        // persistent: false, so a watch never keeps the process alive on its own. Only 'rename'
        // (an entry created, removed or renamed) matters: 'change' fires on every append to a
        // file in the directory, and rescanning on each would cost a readdir per write.
        w = watch(dir, { persistent: false }, (event) => {
          if (event === 'rename') this.onChange()
        })
      } catch (err) {
        this.onError(err, dir)
        continue
      }
      w.on('error', (err) => {
        // The directory was removed (or the watch failed later): forget it; the next scan that
        // finds it again watches it again.
        this.onError(err, dir)
        w.close()
        if (this.watchers.get(dir) === w) this.watchers.delete(dir)
      })
      this.watchers.set(dir, w)
    }
  }

  size(): number {
    return this.watchers.size
  }

  close(): void {
    this.closed = true
    for (const w of this.watchers.values()) w.close()
    this.watchers.clear()
  }
}
