import type { EnvValues } from './env.ts';
import { baseUrlOf, type ServiceSpec } from './services.ts';

const useColor = process.stdout.isTTY === true && !process.env.NO_COLOR;
const paint = (code: number) => (text: string) => (useColor ? `\x1b[${code}m${text}\x1b[0m` : text);

export const bold = paint(1);
export const dim = paint(2);
export const red = paint(31);
export const green = paint(32);
export const yellow = paint(33);
const palette = [paint(36), paint(35), paint(34), paint(32), paint(33), paint(96), paint(95)];

export function makeLog(tool: string) {
  const tag = `[${tool}]`;
  return {
    info: (line: string) => console.log(`${dim(tag)} ${line}`),
    warn: (line: string) => console.error(`${yellow(tag)} ${yellow('warning:')} ${line}`),
    error: (line: string) => console.error(`${red(tag)} ${red('error:')} ${line}`),
  };
}

const levels: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};
const levelColor: Record<string, (text: string) => string> = {
  WARN: yellow,
  ERROR: red,
  FATAL: red,
  DEBUG: dim,
  TRACE: dim,
};
// Fields every pino line carries that say nothing to someone watching the demo.
const quiet = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'v']);

/** A pino JSON line as `12:01:02 INFO  message key=value` (+ error stack); any other line as it came. */
export function prettyLine(line: string, service?: string): string {
  if (!line.startsWith('{')) return line;
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  if (typeof record !== 'object' || record === null || !('msg' in record || 'level' in record)) return line;
  const time =
    typeof record.time === 'number' || typeof record.time === 'string' ? new Date(record.time) : new Date();
  const clock = Number.isNaN(time.getTime()) ? '' : time.toISOString().slice(11, 19);
  const level =
    typeof record.level === 'number'
      ? (levels[record.level] ?? String(record.level))
      : String(record.level ?? '');
  const colorLevel = levelColor[level] ?? ((text: string) => text);
  const err = record.err as { message?: unknown; stack?: unknown } | undefined;
  const stack = err && typeof err === 'object' && typeof err.stack === 'string' ? err.stack : undefined;
  const extras = Object.entries(record)
    .filter(
      ([key, value]) =>
        !quiet.has(key) && !(key === 'service' && value === service) && !(key === 'err' && stack),
    )
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
    .join(' ');
  const head = `${dim(clock)} ${colorLevel(level.padEnd(5))} ${String(record.msg ?? '')}${extras ? ` ${dim(extras)}` : ''}`;
  return stack ? `${head}\n${colorLevel(stack.replace(/^/gm, '    '))}` : head;
}

/** Writes each line of a child's output as `[name] line`, one colour per name. */
export function linePrefixer(name: string, index: number, width: number) {
  const color = palette[index % palette.length] ?? ((text: string) => text);
  const tag = color(`[${name}]`.padEnd(width + 2));
  return (line: string) => {
    const [first = '', ...more] = prettyLine(line, name).split('\n');
    process.stdout.write(`${tag} ${first}\n${more.map((next) => `${tag} ${next}\n`).join('')}`);
  };
}

/** The part people need after start-up: where to click and the token to paste. */
export function banner(
  values: EnvValues,
  running: readonly ServiceSpec[],
  extra: readonly string[] = [],
): string {
  const lines: string[] = [''];
  for (const service of running) {
    if (!service.web) continue;
    const page = `${baseUrlOf(service, values)}${service.web.path}`;
    lines.push(
      `  ${service.web.label.padEnd(18)} ${bold(
        `${page}${
          service.web.tokenInFragment && values.TELECARE_ADMIN_TOKEN
            ? `#token=${values.TELECARE_ADMIN_TOKEN}`
            : ''
        }`,
      )}`,
    );
    const email = service.web.signIn && values[service.web.signIn.email];
    const password = service.web.signIn && values[service.web.signIn.password];
    if (email && password)
      lines.push(`  ${'sign in at'.padEnd(18)} ${bold(page)} as ${bold(email)} / ${bold(password)}`);
  }
  if (!running.some((service) => service.web)) lines.push('  (no service with a web page is running yet)');
  lines.push(`  ${'admin token'.padEnd(18)} ${bold(values.TELECARE_ADMIN_TOKEN ?? '')}`);
  lines.push(`  ${'device credentials'.padEnd(18)} ${credentialsState(values)}`);
  for (const line of extra) lines.push(`  ${line}`);
  lines.push('');
  return lines.join('\n');
}

/**
 * Says whether devices get broker credentials, so nobody mistakes an anonymous broker for the
 * production set-up. Only the host is shown: MQTT_ADMIN_URL carries the admin password.
 */
export function credentialsState(values: EnvValues): string {
  const admin = values.MQTT_ADMIN_URL || process.env.MQTT_ADMIN_URL;
  if (values.TELECARE_DEVICE_CREDENTIALS === 'off') {
    return `${red('off')} — anonymous broker, any client may pose as any device (--insecure-broker / TELECARE_DEVICE_CREDENTIALS=off: for experiments only)`;
  }
  if (!admin) {
    return `${yellow('off')} — anonymous broker, devices connect without a secret (MQTT_ADMIN_URL unset; infra/mosquitto/README.md)`;
  }
  let where = 'MQTT_ADMIN_URL';
  try {
    where = new URL(admin).host;
  } catch {
    // the registry reports a malformed URL itself
  }
  const own = values.MQTT_DYNSEC_PORT && where === `127.0.0.1:${values.MQTT_DYNSEC_PORT}`;
  return `${green('on')} — the registry issues device secrets through Mosquitto dynamic security at ${where}${
    own ? ' (started by the stack; --insecure-broker turns credentials off)' : ''
  }`;
}
