import { commonEnv, loadConfig, port } from '@telecare/platform';
import { z } from 'zod';

export const registryEnv = {
  ...commonEnv,
  REGISTRY_PORT: port(7020),
  HTTP_HOST: z.string().default('127.0.0.1'),
} as const;

export type RegistryConfig = z.infer<z.ZodObject<typeof registryEnv>>;

export function loadRegistryConfig(env: Record<string, string | undefined> = process.env): RegistryConfig {
  return loadConfig('registry', registryEnv, env);
}
