export {
  crc16,
  type DialerEvent,
  decodeReply,
  dialerKey,
  encodeMessage,
  frame,
  type KeyEncoding,
  type MessageParts,
  type PadStyle,
  type Reply,
  timestamp,
} from './codec.ts';
export { Dc09Dialler, DialFailedError, type DiallerOptions, type DialResult } from './dialler.ts';
export { Dc09Panel, type OnFirstSend, type PanelAck, type PanelOptions } from './panel.ts';
