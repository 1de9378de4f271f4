/**
 * The URL of a worker entry point, in a source checkout and in the compiled executable alike.
 *
 * Run from source, a module's `import.meta.url` is its own file. In an executable made by
 * `bun build --compile src/main.ts src/…/x-worker.ts`, every bundled module reports the
 * executable's URL (`file:///$bunfs/root/stemedb`) and each extra entry point keeps its path
 * below `src/` (`/$bunfs/root/crypto/verify-worker.ts`). `pathFromSrc` names the worker that
 * way, and `moduleUrl` is the caller's `import.meta.url` (a module one level below `src/`).
 */
export function workerUrl(moduleUrl: string, pathFromSrc: string): string {
  if (moduleUrl.includes("/$bunfs/")) return new URL(`./${pathFromSrc}`, moduleUrl).href;
  return new URL(`../${pathFromSrc}`, moduleUrl).href;
}
