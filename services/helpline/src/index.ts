export { HelplineCase, HoldBody, ListCasesQuery, ResolveBody } from '@telecare/contracts';
export { type HelplineConfig, helplineEnv, loadHelplineConfig } from './config.ts';
export { consumerOf, PRIORITIES } from './ingest.ts';
export { hashPassword, type Principal, ROLES, type Role, verifyPassword } from './people.ts';
export { type BudgetStore, RequestBudget, SharedBudget } from './request-budget.ts';
export { upgradeSchema } from './schema-upgrade.ts';
export { HELPLINE_MIGRATIONS, type HelplineHandle, startHelpline } from './service.ts';
