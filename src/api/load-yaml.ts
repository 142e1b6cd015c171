// Where things are in a YAML document (field path to line) and the go-yaml leniency bindery copies.
import { isMap, isSeq, isScalar, isPair, type LineCounter } from 'yaml';
import type { Node as YamlNode } from 'yaml';
import { child, index } from './decode.js';
import type { SourceInfo } from './types.js';

// ---------------------------------------------------------------------------------------------
// Positions

/** Records the 1-based line of every field path under `node` (map keys always as `.key`). */
export function collectLines(
  node: unknown,
  path: string,
  lc: LineCounter,
  lines: Map<string, number>,
): void {
  if (isMap(node)) {
    for (const pair of node.items) {
      if (!isPair(pair)) continue;
      const key = pair.key;
      if (!isScalar(key)) continue;
      const p = child(path, String(key.value));
      const off = key.range?.[0];
      if (off !== undefined) lines.set(p, lc.linePos(off).line);
      collectLines(pair.value, p, lc, lines);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => {
      const p = index(path, i);
      const off = (item as YamlNode | null)?.range?.[0];
      if (off !== undefined) lines.set(p, lc.linePos(off).line);
      collectLines(item, p, lc, lines);
    });
  }
}

/** The first map key under `node` that is a mapping or a sequence (`? {a: 1}`), if any. */
export function collectionKey(node: unknown): YamlNode | undefined {
  if (isMap(node)) {
    for (const pair of node.items) {
      if (!isPair(pair)) continue;
      if (isMap(pair.key) || isSeq(pair.key)) return pair.key as YamlNode;
      const inner = collectionKey(pair.value);
      if (inner !== undefined) return inner;
    }
  } else if (isSeq(node)) {
    for (const item of node.items) {
      const inner = collectionKey(item);
      if (inner !== undefined) return inner;
    }
  }
  return undefined;
}

/** `a[key].b` → `a.key.b` (map keys in brackets, as decoders write them, to the line map's form). */
function normalizePath(path: string): string {
  return path.replace(/\[([^\]]*[^\]0-9][^\]]*|)\]/g, (_m, k: string) => `.${k}`);
}

/**
 * The line of `path` in a document, or of its nearest ancestor that has one
 * (`a.b[2].c` → `a.b[2]` → `a.b` → `a`).
 */
export function lineOf(source: SourceInfo, path: string): number | undefined {
  let p = normalizePath(path);
  for (;;) {
    const l = source.lines.get(p);
    if (l !== undefined) return l;
    if (p === '') return source.line;
    const cut = Math.max(p.lastIndexOf('.'), p.lastIndexOf('['));
    p = cut <= 0 ? '' : p.slice(0, cut);
  }
}

// ---------------------------------------------------------------------------------------------
// go-yaml compatibility

function indentOf(line: string): number {
  return line.length - line.trimStart().length;
}

/**
 * go-yaml (kubectl) does not check the indentation of a quoted scalar's continuation lines; the
 * YAML 1.2 parser here does, so the KubeVirt guide's NAD (`config: '{` … `  }'`) would not
 * parse. This indents such lines one column deeper than the line the scalar starts on, which
 * leaves the value unchanged (flow scalars fold leading white space) and keeps line numbers.
 */
export function relaxQuotedIndentation(text: string): string {
  const lines = text.split('\n');
  let quote: '"' | "'" | undefined;
  let parentIndent = 0;
  let blockIndent: number | undefined;
  for (let li = 0; li < lines.length; li++) {
    let line = lines[li] ?? '';
    if (blockIndent !== undefined) {
      if (line.trim() === '' || indentOf(line) > blockIndent) continue;
      blockIndent = undefined;
    }
    if (quote !== undefined && line.trim() !== '' && indentOf(line) <= parentIndent) {
      line = ' '.repeat(parentIndent + 1 - indentOf(line)) + line;
      lines[li] = line;
    }
    let prev = ''; // last non-space character outside quotes on this line
    for (let i = 0; i < line.length; i++) {
      const c = line[i] ?? '';
      if (quote === "'") {
        if (c === "'") {
          if (line[i + 1] === "'") i++;
          else quote = undefined;
        }
        continue;
      }
      if (quote === '"') {
        if (c === '\\') i++;
        else if (c === '"') quote = undefined;
        continue;
      }
      if (c === ' ' || c === '\t') continue;
      const atTokenStart =
        prev === '' ||
        prev === '[' ||
        prev === '{' ||
        prev === ',' ||
        ((prev === ':' || prev === '-' || prev === '?') && /\s/.test(line[i - 1] ?? ''));
      if (c === '#' && (i === 0 || /\s/.test(line[i - 1] ?? ''))) break;
      if ((c === "'" || c === '"') && atTokenStart) {
        quote = c;
        parentIndent = indentOf(line);
        prev = c;
        continue;
      }
      if (
        (c === '|' || c === '>') &&
        atTokenStart &&
        prev !== '' &&
        /^[|>][-+0-9]*\s*(#.*)?$/.test(line.slice(i))
      ) {
        blockIndent = indentOf(line);
        break;
      }
      prev = c;
    }
  }
  return lines.join('\n');
}
