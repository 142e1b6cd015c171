// Kubernetes resource quantities (`500Mi`, `1024M`, `1.5Gi`): exact parsing, sums and formatting.

/** A parsed quantity: the value in thousandths of a unit, and whether it was written in binary SI. */
export interface Quantity {
  readonly milli: bigint;
  readonly format: 'binary' | 'decimal';
}

const BINARY: Readonly<Record<string, bigint>> = {
  Ki: 1n << 10n,
  Mi: 1n << 20n,
  Gi: 1n << 30n,
  Ti: 1n << 40n,
  Pi: 1n << 50n,
  Ei: 1n << 60n,
};
const DECIMAL: Readonly<Record<string, bigint>> = {
  k: 10n ** 3n,
  M: 10n ** 6n,
  G: 10n ** 9n,
  T: 10n ** 12n,
  P: 10n ** 15n,
  E: 10n ** 18n,
};

/**
 * Parses a Kubernetes quantity (`<number><suffix>`; suffixes Ki…Ei, m, k…E, or an `e`
 * exponent). Sub-milli precision is rounded up, as Kubernetes does.
 * @param text - the quantity as written
 * @returns the quantity, or undefined when `text` is not a quantity
 */
export function parseQuantity(text: string): Quantity | undefined {
  const m = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E|[eE][+-]?\d+)?$/.exec(
    text.trim(),
  );
  if (!m) return undefined;
  const [, sign = '', num = '', suffix = ''] = m;
  const [intPart = '', fracPart = ''] = num.split('.');
  let mantissa = BigInt((intPart || '0') + fracPart);
  let scaleDown = 10n ** BigInt(fracPart.length);
  let mult = 1000n; // to milli
  let format: Quantity['format'] = 'decimal';
  if (suffix in BINARY) {
    mult *= BINARY[suffix]!;
    format = 'binary';
  } else if (suffix in DECIMAL) mult *= DECIMAL[suffix]!;
  else if (suffix === 'm') mult = 1n;
  else if (suffix !== '') {
    const exp = Number(suffix.slice(1));
    if (Math.abs(exp) > 30) return undefined;
    if (exp >= 0) mult *= 10n ** BigInt(exp);
    else scaleDown *= 10n ** BigInt(-exp);
  }
  mantissa *= mult;
  let milli = mantissa / scaleDown;
  if (milli * scaleDown !== mantissa) milli += 1n;
  if (sign === '-') milli = -milli;
  return { milli, format };
}

/**
 * Adds quantities. The result is binary SI when every term is binary SI (or a plain number
 * alongside binary terms), otherwise decimal SI, like Kubernetes keeps its first operand's format.
 * @param terms - quantities to add
 * @returns the sum
 */
export function addQuantities(terms: readonly Quantity[]): Quantity {
  let milli = 0n;
  for (const t of terms) milli += t.milli;
  const format =
    terms.length > 0 && terms.every((t) => t.format === 'binary') ? 'binary' : 'decimal';
  return { milli, format };
}

/**
 * Formats a quantity with the largest suffix of its format that represents it exactly.
 * @param q - the quantity
 * @returns e.g. `750Mi`, `1548288k`, `250m`
 */
export function formatQuantity(q: Quantity): string {
  if (q.milli % 1000n !== 0n) return `${q.milli}m`;
  const units = q.milli / 1000n;
  if (units === 0n) return '0';
  const table = q.format === 'binary' ? BINARY : DECIMAL;
  const entries = Object.entries(table).sort((a, b) => (a[1] > b[1] ? -1 : 1));
  for (const [suffix, factor] of entries)
    if (units % factor === 0n) return `${units / factor}${suffix}`;
  return `${units}`;
}
