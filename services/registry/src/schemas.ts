// The registry's request schemas live with its route contracts in @telecare/contracts.
export {
  API_ROLES,
  type ApiRole,
  CreateDeviceBody,
  CreateResidentBody,
  type ImportBody,
  keylessProblem,
  type RevealBody,
  type SensitiveField,
  sharedKeyProblem,
  UpdateDeviceBody,
  UpdateResidentBody,
} from '@telecare/contracts';
export { parseRequest } from '@telecare/platform';
