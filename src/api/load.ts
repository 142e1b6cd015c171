// Reads manifests from YAML or JSON text (several documents per file) into typed objects plus located problems.
import { LineCounter, parseAllDocuments, isScalar } from 'yaml';
import { DecodeContext, LoadCode } from './decode.js';
import type { Problem } from './decode.js';
import type { Diagnostic, LoadResult, LoadedManifest, Manifest, SourceInfo } from './types.js';
import { dispatch } from './load-kinds.js';
import { collectLines, collectionKey, lineOf, relaxQuotedIndentation } from './load-yaml.js';

export { lineOf, relaxQuotedIndentation } from './load-yaml.js';

// ---------------------------------------------------------------------------------------------
// Entry point

function firstLine(s: string): string {
  const l = s.split('\n')[0]?.trim() ?? '';
  return l.length > 120 ? l.slice(0, 117) + '...' : l;
}

/**
 * Parses every document in `text` (YAML or JSON) and decodes the ones bindery knows.
 * A document with an error (syntax, type, unknown field, unknown kind) is left out of
 * `manifests`; every problem is in `diagnostics` with the file, the line when known and the
 * field path. Never throws.
 */
export function loadManifests(text: string, file: string): LoadResult {
  const manifests: LoadedManifest[] = [];
  const diagnostics: Diagnostic[] = [];
  const push = (p: Problem, line: number | undefined): void => {
    diagnostics.push({ ...p, file, ...(line !== undefined ? { line } : {}) });
  };
  let docs;
  let lc = new LineCounter();
  const parse = (t: string, counter: LineCounter): ReturnType<typeof parseAllDocuments> =>
    parseAllDocuments(t, {
      lineCounter: counter,
      prettyErrors: false,
      merge: true,
      uniqueKeys: true,
    });
  try {
    docs = parse(text, lc);
    if (Array.isArray(docs) && docs.some((d) => d.errors.length > 0)) {
      const relaxed = relaxQuotedIndentation(text);
      if (relaxed !== text) {
        const lc2 = new LineCounter();
        const docs2 = parse(relaxed, lc2);
        if (Array.isArray(docs2) && docs2.every((d) => d.errors.length === 0)) {
          docs = docs2;
          lc = lc2;
        }
      }
    }
  } catch (e) {
    push(
      {
        path: '',
        code: LoadCode.Syntax,
        message: firstLine(e instanceof Error ? e.message : String(e)),
        severity: 'error',
      },
      undefined,
    );
    return { manifests, diagnostics };
  }
  const list = Array.isArray(docs) ? docs : [];
  let seen = 0;
  list.forEach((doc, d) => {
    const startLine = doc.range?.[0] !== undefined ? lc.linePos(doc.range[0]).line : undefined;
    const docPath = '';
    if (doc.errors.length > 0) {
      for (const err of doc.errors) {
        const line = err.pos ? lc.linePos(err.pos[0]).line : startLine;
        push(
          {
            path: docPath,
            code: LoadCode.Syntax,
            message: firstLine(err.message),
            severity: 'error',
          },
          line,
        );
      }
      seen++;
      return;
    }
    if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) return; // an empty document (e.g. a leading `---`)
    seen++;
    const badKey = collectionKey(doc.contents);
    if (badKey !== undefined) {
      // go-yaml (kubectl) refuses these too: a Kubernetes object's keys are strings.
      push(
        {
          path: docPath,
          code: LoadCode.Syntax,
          message: 'invalid map key: a mapping or sequence cannot be a key',
          severity: 'error',
        },
        badKey.range?.[0] !== undefined ? lc.linePos(badKey.range[0]).line : startLine,
      );
      return;
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (e) {
      push(
        {
          path: docPath,
          code: LoadCode.Syntax,
          message: firstLine(e instanceof Error ? e.message : String(e)),
          severity: 'error',
        },
        startLine,
      );
      return;
    }
    const lines = new Map<string, number>();
    const contentLine =
      doc.contents.range?.[0] !== undefined ? lc.linePos(doc.contents.range[0]).line : startLine;
    if (contentLine !== undefined) lines.set('', contentLine);
    collectLines(doc.contents, '', lc, lines);
    const source: SourceInfo = {
      file,
      document: d,
      ...(contentLine !== undefined ? { line: contentLine } : {}),
      lines,
    };
    const cx = new DecodeContext();
    const found: { manifest: Manifest; path: string }[] = [];
    dispatch(value, '', cx, found);
    for (const p of cx.problems) push(p, lineOf(source, p.path));
    for (const f of found) {
      const itemLines =
        f.path === ''
          ? lines
          : new Map(
              [...lines]
                .filter(([k]) => k === f.path || k.startsWith(f.path + '.'))
                .map(([k, l]) => [k === f.path ? '' : k.slice(f.path.length + 1), l]),
            );
      const itemSource: SourceInfo =
        f.path === ''
          ? source
          : {
              file,
              document: d,
              ...(itemLines.get('') !== undefined ? { line: itemLines.get('') } : {}),
              lines: itemLines,
            };
      manifests.push({ ...f.manifest, source: itemSource } as LoadedManifest);
    }
  });
  if (seen === 0 && diagnostics.length === 0) {
    push(
      { path: '', code: LoadCode.Empty, message: 'no manifests in file', severity: 'error' },
      undefined,
    );
  }
  return { manifests, diagnostics };
}
