// A small checker of the Prometheus text exposition format (0.0.4): parses samples and insists every family has HELP and TYPE.
//
// Not a full parser: enough to say a scrape is well formed (each sample line is
// `name{label="value",…} number`, names and label names as the format allows, a family's
// samples after its HELP and TYPE) and to read values back by name and labels.

/** One sample line. */
export interface PromSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** A parsed scrape. */
export interface PromScrape {
  readonly samples: readonly PromSample[];
  /** Family name → its TYPE. */
  readonly types: ReadonlyMap<string, string>;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)/y;
const SUFFIXES = ['_bucket', '_sum', '_count', '_total', '_created'];

function familyOf(name: string, types: ReadonlyMap<string, string>): string | undefined {
  if (types.has(name)) return name;
  for (const s of SUFFIXES)
    if (name.endsWith(s) && types.has(name.slice(0, -s.length))) return name.slice(0, -s.length);
  return undefined;
}

/**
 * Parses an exposition.
 *
 * @throws Error naming the first line that is not well formed.
 */
export function parseExposition(text: string): PromScrape {
  const samples: PromSample[] = [];
  const types = new Map<string, string>();
  const helps = new Set<string>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const bad = (why: string): never => {
      throw new Error(`exposition line ${i + 1}: ${why}: ${line}`);
    };
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!m) continue;
      if (!NAME.test(m[2]!)) bad('bad metric name');
      if (m[1] === 'HELP') helps.add(m[2]!);
      else if (!/^(counter|gauge|histogram|summary|untyped)$/.test(m[3]!)) bad('bad TYPE');
      else types.set(m[2]!, m[3]!);
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( -?\d+)?$/.exec(line);
    if (!m) bad('not a sample');
    const [, name, , body, valueText] = m!;
    const labels: Record<string, string> = {};
    if (body !== undefined && body !== '') {
      LABEL.lastIndex = 0;
      while (LABEL.lastIndex < body.length) {
        const start = LABEL.lastIndex;
        const l = LABEL.exec(body);
        if (!l || l.index !== start) bad('bad labels');
        labels[l![1]!] = l![2]!.replace(/\\n/g, '\n').replace(/\\(["\\])/g, '$1');
      }
    }
    // Prometheus parses values with Go's ParseFloat, which takes NaN and Inf in any case
    // (prom-client writes NaN as "Nan").
    const isNan = /^nan$/i.test(valueText!);
    const value = /^[+-]?inf$/i.test(valueText!)
      ? (valueText!.startsWith('-') ? -1 : 1) * Infinity
      : isNan
        ? NaN
        : Number(valueText);
    if (Number.isNaN(value) && !isNan) bad('bad value');
    const fam = familyOf(name!, types);
    if (fam === undefined) bad('sample before its TYPE');
    if (!helps.has(fam!)) bad('sample without HELP');
    samples.push({ name: name!, labels, value });
  }
  return { samples, types };
}

/** The value of the sample `name` whose labels include `labels`, or undefined. */
export function promValue(
  s: PromScrape,
  name: string,
  labels: Readonly<Record<string, string>> = {},
): number | undefined {
  return s.samples.find(
    (x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v),
  )?.value;
}
