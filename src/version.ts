// The bindery version string, read once from package.json next to the build.
import { readFileSync } from 'node:fs';

/** bindery's version as in package.json (e.g. "0.1.0"). */
export function binderyVersion(): string {
  const url = new URL('../package.json', import.meta.url);
  const pkg = JSON.parse(readFileSync(url, 'utf8')) as { version: string };
  return pkg.version;
}
