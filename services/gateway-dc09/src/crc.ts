/**
 * CRC-16/ARC (reflected polynomial 0xA001, initial 0, no final xor), as DC-09 puts in front of
 * every frame. A table would be faster, but frames are a few hundred bytes and arrive seconds apart.
 */
export function crc16Arc(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
  }
  return crc;
}

/** The 4 upper-case hex digits a frame carries. */
export const crcField = (bytes: Uint8Array): string =>
  crc16Arc(bytes).toString(16).toUpperCase().padStart(4, '0');

/** `0` and 3 upper-case hex digits: the byte length of the span the CRC covers. */
export const lengthField = (bytes: Uint8Array): string =>
  `0${bytes.byteLength.toString(16).toUpperCase().padStart(3, '0')}`;
