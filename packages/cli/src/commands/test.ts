import type { Command } from 'commander';
import { EXIT } from '../client.ts';
import {
  type Commands,
  given,
  type Json,
  keyHeaders,
  liveLine,
  positiveInt,
  secondsLeft,
  sleep,
  withIdempotencyKey,
} from './shared.ts';

/** The registry's progress while a gateway refuses the device's messages (the latest named after it). */
const REFUSED = 'messages arrive but are refused';

/** The registry's progress once an alarm arrived that the device's registered kind does not report. */
const MISMATCH = 'kind mismatch';

/** `telecare test`: a test call, with its live progress and verdict. */
export function addTestCommand(program: Command, { ctx, io, outcome }: Commands): void {
  withIdempotencyKey(program.command('test'))
    .description(
      'run a test call: put the device in test mode, set it off as its kind is meant to be (press, fall, smoke, get into bed…), wait for the verdict',
    )
    .argument('<serial>')
    .option('--timeout <seconds>', 'how long to wait for the trigger', positiveInt)
    .action(async (serial: string, opts, cmd: Command) => {
      const { api, print, json } = ctx(cmd);
      const started = await api.startTest({
        ...keyHeaders(opts),
        params: { serial },
        body: given({ timeoutS: opts.timeout }),
      });
      const deadline = Date.parse(started.deadline as string);
      const expected = (started.expected as string[] | undefined)?.join(' or ') ?? 'its trigger';
      const ask = `${serial} (${started.kind}): ${started.action} now`;
      // The instruction always (a log of the run says what was asked); the live display only on a terminal.
      if (!json)
        io.stderr(`test mode on for ${ask}; waiting up to ${secondsLeft(deadline)} s for ${expected}\n`);
      const spinner = liveLine(io, json, ask);
      let test = started;
      while (test.status === 'waiting') {
        await sleep(500);
        test = await api.getTest({ params: { serial } });
        const progress = String(test.progress);
        const state =
          progress === 'connected, no trigger yet' ||
          progress.startsWith(REFUSED) ||
          progress.startsWith(MISMATCH)
            ? `${progress} — `
            : '';
        spinner.text = `${state}${ask} (${secondsLeft(deadline)} s left)`;
      }
      const arrived = [
        ...((test.arrived as Json[] | undefined) ?? []).map(
          (a) => `arrived: ${a.type} at ${a.at}${a.trigger ? ' (the trigger)' : ' (not the trigger)'}`,
        ),
        ...((test.refused as Json[] | undefined) ?? []).map(
          (r) => `refused: ${r.reason}: ${r.detail} at ${r.at}`,
        ),
        ...((test.mismatched as Json[] | undefined) ?? []).map(
          (m) => `kind mismatch: ${m.detail} at ${m.at}`,
        ),
        ...((test.warnings as string[] | undefined) ?? []).map((w) => `warning: ${w}`),
      ];
      if (test.status === 'passed') {
        spinner.succeed(`${serial} reached the platform`);
        print(test, () =>
          [
            `PASS ${serial}: ${test.eventType} arrived end to end in ${test.latencyMs} ms`,
            `battery ${test.batteryPercent ?? 'unknown'}%, signal ${test.signalDbm ?? 'unknown'} dBm`,
            ...arrived,
          ].join('\n'),
        );
        return;
      }
      spinner.fail(
        String(test.progress).startsWith(MISMATCH)
          ? `${serial} sent an alarm its registered kind (${test.kind}) does not report`
          : String(test.progress).startsWith(REFUSED)
            ? `${serial} is sending, but its messages are refused`
            : test.progress === 'connected, no trigger yet'
              ? `${serial} is connected, but its trigger did not arrive`
              : `${serial} did not reach the platform`,
      );
      print(test, () => [`FAIL ${serial}: ${test.reason ?? test.status}`, ...arrived].join('\n'));
      outcome.exitCode = EXIT.failed;
    });
}
