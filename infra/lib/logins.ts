import type { EnvValues } from './env.ts';

/** What became of the demo operator: made now, there from an earlier run, or not made (and why). */
export type OperatorResult =
  | { readonly status: 'created' | 'exists'; readonly email: string; readonly password: string }
  | { readonly status: 'failed'; readonly email: string; readonly reason: string };

/**
 * Creates the demo operator through the helpline's API with the admin token, once the helpline is
 * ready. A 409 means it was created by an earlier run: its password is the one saved with it in
 * .data/stack.env. Never signs it in (signing in makes an operator available for offers).
 */
export async function ensureDemoOperator(helplineUrl: string, values: EnvValues): Promise<OperatorResult> {
  const email = values.DEMO_OPERATOR_EMAIL ?? '';
  const password = values.DEMO_OPERATOR_PASSWORD ?? '';
  try {
    const response = await fetch(new URL('/api/users', helplineUrl), {
      method: 'POST',
      headers: {
        authorization: `Bearer ${values.TELECARE_ADMIN_TOKEN ?? ''}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ username: email, name: 'Demo Operator', role: 'operator', password }),
      signal: AbortSignal.timeout(5_000),
    });
    if (response.status === 201) return { status: 'created', email, password };
    if (response.status === 409) return { status: 'exists', email, password };
    const body = (await response.text()).slice(0, 300);
    return { status: 'failed', email, reason: `POST /api/users answered ${response.status}: ${body}` };
  } catch (err) {
    return { status: 'failed', email, reason: err instanceof Error ? err.message : String(err) };
  }
}

/** The banner line for the demo operator. */
export function operatorLine(result: OperatorResult): string {
  const label = 'demo operator'.padEnd(18);
  if (result.status === 'failed') return `${label} ${result.email} not created: ${result.reason}`;
  return `${label} ${result.email} / ${result.password}${
    result.status === 'exists' ? ' (from an earlier run)' : ''
  }`;
}
