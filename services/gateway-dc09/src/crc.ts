/** CRC-16/ARC of every byte value, one step of the reflected polynomial 0xA001 eight times. */
const TABLE = (() => {
  const table = new Uint16Array(256);
  for (let n = 0; n < 256; n++) {
    let crc = n;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
    table[n] = crc;
  }
  return table;
})();

/**
 * CRC-16/ARC (reflected polynomial 0xA001, initial 0, no final xor), as DC-09 puts in front of
 * every frame; a byte at a time from a table (every frame is checked on arrival, and its reply
 * framed).
 */
export function crc16Arc(bytes: Uint8Array): number {
  let crc = 0;
  for (let i = 0; i < bytes.length; i++)
    crc = (crc >>> 8) ^ (TABLE[(crc ^ (bytes[i] as number)) & 0xff] as number);
  return crc;
}

/** The 4 upper-case hex digits a frame carries. */
export const crcField = (bytes: Uint8Array): string =>
  crc16Arc(bytes).toString(16).toUpperCase().padStart(4, '0');

/** `0` and 3 upper-case hex digits: the byte length of the span the CRC covers. */
export const lengthField = (bytes: Uint8Array): string =>
  `0${bytes.byteLength.toString(16).toUpperCase().padStart(3, '0')}`;
