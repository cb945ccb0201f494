/**
 * Where the data of DC-09 content ends: its first `]` outside `^…^` free text (a zone named
 * `Bed [2]` holds brackets of its own), or, where a `^` is never closed, its first `]`; -1 if none.
 */
export function dataEnd(content: string): number {
  let inText = false;
  for (let i = 0; i < content.length; i++) {
    const ch = content[i];
    if (ch === '^') inText = !inText;
    else if (ch === ']' && !inText) return i;
  }
  return content.indexOf(']');
}

/** The text with its `^…^` free text taken out (an unclosed one runs to the end). */
export const outsideText = (text: string): string => text.replace(/\^[^^]*(?:\^|$)/g, '');
