// printf("%.<P>g") for a double, digit for digit as glibc prints it (exact decimal expansion,
// rounded half to even), so the example's text output can be compared with `tessera predict`
// (labels' probabilities with %.6g) and `tessera embed` (%.9g).

/** The exact decimal expansion of a finite, non-zero |x|: digits and the exponent of the first. */
function exactDigits(x: number): { digits: string; exp10: number } {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, Math.abs(x));
  const hi = view.getUint32(0);
  const lo = view.getUint32(4);
  const biased = (hi >>> 20) & 0x7ff;
  let mant = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  let exp2: number;
  if (biased === 0) exp2 = -1074;
  else {
    mant |= 1n << 52n;
    exp2 = biased - 1075;
  }
  let digits: string;
  let pointAt: number;  // digits before the decimal point
  if (exp2 >= 0) {
    digits = (mant << BigInt(exp2)).toString();
    pointAt = digits.length;
  } else {
    digits = (mant * 5n ** BigInt(-exp2)).toString();
    pointAt = digits.length + exp2;
  }
  const lead = digits.search(/[1-9]/);
  digits = digits.slice(lead).replace(/0+$/, "");
  return { digits, exp10: pointAt - lead - 1 };
}

/** Rounds a digit string to p digits, half to even; may carry into a new leading digit. */
function roundDigits(digits: string, exp10: number, p: number): { digits: string; exp10: number } {
  if (digits.length <= p) return { digits: digits.padEnd(p, "0"), exp10 };
  const keep = digits.slice(0, p);
  const next = digits.charCodeAt(p) - 48;
  const rest = digits.slice(p + 1);
  const up = next > 5 || (next === 5 && (/[1-9]/.test(rest) || (keep.charCodeAt(p - 1) - 48) % 2 === 1));
  if (!up) return { digits: keep, exp10 };
  const bumped = (BigInt(keep) + 1n).toString();
  if (bumped.length > p) return { digits: bumped.slice(0, p), exp10: exp10 + 1 };
  return { digits: bumped, exp10 };
}

export function formatG(x: number, precision: number): string {
  const p = precision === 0 ? 1 : precision;
  if (Number.isNaN(x)) return "nan";
  if (!Number.isFinite(x)) return x < 0 ? "-inf" : "inf";
  const sign = x < 0 || Object.is(x, -0) ? "-" : "";
  if (x === 0) return sign + "0";
  const exact = exactDigits(x);
  const { digits, exp10 } = roundDigits(exact.digits, exact.exp10, p);
  const strip = (s: string) => (s.includes(".") ? s.replace(/0+$/, "").replace(/\.$/, "") : s);
  if (exp10 < -4 || exp10 >= p) {
    const mantissa = strip(digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits);
    const e = Math.abs(exp10).toString().padStart(2, "0");
    return `${sign}${mantissa}e${exp10 < 0 ? "-" : "+"}${e}`;
  }
  let body: string;
  if (exp10 < 0) body = "0." + "0".repeat(-exp10 - 1) + digits;
  else if (exp10 + 1 >= digits.length) body = digits + "0".repeat(exp10 + 1 - digits.length);
  else body = digits.slice(0, exp10 + 1) + "." + digits.slice(exp10 + 1);
  return sign + strip(body);
}
