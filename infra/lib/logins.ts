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
      headers: adminHeaders(values),
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

const adminHeaders = (values: EnvValues) => ({
  authorization: `Bearer ${values.TELECARE_ADMIN_TOKEN ?? ''}`,
  'content-type': 'application/json',
});

/**
 * A one-click sign-in for the demo operator: a personal token that expires in a day, in the
 * console's `/#token=` link, with the operator's presence set to available. Whoever opens the link
 * is the operator at once, so the demo's presses are offered to a person instead of escalating to
 * an overflow nobody configured. The link is printed on this machine's terminal only.
 */
export async function demoSignInLink(helplineUrl: string, values: EnvValues): Promise<string> {
  const email = values.DEMO_OPERATOR_EMAIL ?? '';
  const get = await fetch(new URL('/api/users', helplineUrl), {
    headers: adminHeaders(values),
    signal: AbortSignal.timeout(5_000),
  });
  if (!get.ok) throw new Error(`GET /api/users answered ${get.status}`);
  const { users } = (await get.json()) as { users: Array<{ id: string; username: string }> };
  const operator = users.find((user) => user.username === email);
  if (!operator) throw new Error(`no user ${email}`);
  const issued = await fetch(new URL('/api/tokens', helplineUrl), {
    method: 'POST',
    headers: adminHeaders(values),
    body: JSON.stringify({ userId: operator.id, label: 'demo one-click sign-in', expiresInDays: 1 }),
    signal: AbortSignal.timeout(5_000),
  });
  if (issued.status !== 201) throw new Error(`POST /api/tokens answered ${issued.status}`);
  const { token } = (await issued.json()) as { token: string };
  const available = await fetch(new URL('/api/presence', helplineUrl), {
    method: 'PUT',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ status: 'available' }),
    signal: AbortSignal.timeout(5_000),
  });
  if (!available.ok) throw new Error(`PUT /api/presence answered ${available.status}`);
  return `${new URL('/', helplineUrl).toString()}#token=${token}`;
}

/** The banner line for the demo operator. */
export function operatorLine(result: OperatorResult): string {
  const label = 'demo operator'.padEnd(18);
  if (result.status === 'failed') return `${label} ${result.email} not created: ${result.reason}`;
  return `${label} ${result.email} / ${result.password}${
    result.status === 'exists' ? ' (from an earlier run)' : ''
  }`;
}

/** The banner line with the one-click sign-in (or why there is none). */
export function signInLine(link: string | Error): string {
  const label = 'operator sign-in'.padEnd(18);
  return link instanceof Error
    ? `${label} no one-click link: ${link.message}`
    : `${label} ${link}  (open it: you are the demo operator, available for the homes' presses)`;
}
