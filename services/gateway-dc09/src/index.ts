export { type Dc09Accounts, openDc09Accounts, openDc09AccountsMirror } from './accounts.ts';
export { type GatewayDc09Config, gatewayDc09Env, loadGatewayDc09Config } from './config.ts';
export { contactIdChecksum, isValidContactId } from './contact-id.ts';
export { crc16Arc } from './crc.ts';
export { decryptPayload, encryptPayload, keyBytes } from './crypto.ts';
export { readCidData, readSiaData, type SourceEvent } from './data.ts';
export { MAX_FRAME_BYTES, readEnvelope } from './frame.ts';
export type { Dc09Connection } from './gateway.ts';
export { CID_TYPES, mapEvent, SIA_TYPES } from './mapping.ts';
export { EVENT_SOURCE, type Interpretation, interpretFrame } from './receiver.ts';
export {
  type Dc09AccountView,
  type GatewayDc09Handle,
  gatewayDc09Service,
  startGatewayDc09,
} from './service.ts';
