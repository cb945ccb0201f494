/** Content that is not `data]…[xdata]…_timestamp`: the sender gets DUH (or NAK for a bad timestamp). */
export class ContentError extends Error {
  override readonly name = 'ContentError';
  constructor(
    message: string,
    readonly problem: 'data' | 'timestamp',
  ) {
    super(message);
  }
}
