/**
 * Contact ID's own checksum (the full `ACCT MT Q EEE GG ZZZ S` form that dialled panels send; DC-09
 * leaves it out). Digit values: 0 counts 10, 1–9 as themselves, B–F as 11–15; the sum of all 16
 * digits is a multiple of 15, and a checksum of 0 is sent as F.
 */
const digitValue = (digit: string): number | undefined => {
  if (digit === '0') return 10;
  if (/^[1-9]$/.test(digit)) return Number(digit);
  if (/^[B-F]$/.test(digit)) return Number.parseInt(digit, 16);
  return undefined;
};

/** The checksum digit for the first 15 digits, or undefined if one is not a Contact ID digit. */
export function contactIdChecksum(first15: string): string | undefined {
  if (first15.length !== 15) return undefined;
  let sum = 0;
  for (const digit of first15.toUpperCase()) {
    const value = digitValue(digit);
    if (value === undefined) return undefined;
    sum += value;
  }
  const check = (15 - (sum % 15)) % 15;
  return check === 0 ? 'F' : check.toString(16).toUpperCase();
}

/** Whether a 16-digit Contact ID message carries a correct checksum. */
export function isValidContactId(message: string): boolean {
  if (!/^[0-9B-F]{16}$/i.test(message)) return false;
  return contactIdChecksum(message.slice(0, 15)) === message.slice(15).toUpperCase();
}
