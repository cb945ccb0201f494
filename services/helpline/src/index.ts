export { HoldBody, ListCasesQuery, ResolveBody } from './api.ts';
export { type HelplineConfig, helplineEnv, loadHelplineConfig } from './config.ts';
export { type HelplineHandle, startHelpline } from './service.ts';
