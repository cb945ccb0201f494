/** One frame of the live stream (server-sent events): its id, event name and data as sent. */
export interface SseFrame {
  readonly id?: string;
  readonly event: string;
  readonly data: string;
}

/**
 * Reads a server-sent event stream to its end, handing each frame to `onFrame` in order (awaited).
 * Resolves when the stream ends or is aborted.
 */
export async function readSse(
  body: ReadableStream<Uint8Array>,
  onFrame: (frame: SseFrame) => void | Promise<void>,
): Promise<void> {
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for await (const chunk of body) {
      buffer += decoder.decode(chunk, { stream: true });
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let id: string | undefined;
        let event = 'message';
        const data: string[] = [];
        for (const line of block.split('\n')) {
          if (line.startsWith('id: ')) id = line.slice(4);
          else if (line.startsWith('event: ')) event = line.slice(7);
          else if (line.startsWith('data: ')) data.push(line.slice(6));
        }
        await onFrame({ ...(id === undefined ? {} : { id }), event, data: data.join('\n') });
      }
    }
  } catch {
    // aborted by the caller, or the server ended the stream
  }
}
