export { HelplineCase, HoldBody, ListCasesQuery, ResolveBody } from './api.ts';
export { type HelplineConfig, helplineEnv, loadHelplineConfig } from './config.ts';
export { openApiDocument } from './openapi.ts';
export { hashPassword, type Principal, ROLES, type Role, verifyPassword } from './people.ts';
export { type HelplineHandle, startHelpline } from './service.ts';
