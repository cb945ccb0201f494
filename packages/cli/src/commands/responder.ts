import type { Command } from 'commander';
import { type Commands, given, type Json, keyHeaders, positiveInt, withIdempotencyKey } from './shared.ts';

const responderList = (out: { responders: Json[] }) =>
  out.responders.length === 0
    ? 'no responders'
    : out.responders.map((r) => `${r.order}. ${r.name} (${r.relationship}) ${r.phone}  [${r.id}]`).join('\n');

/** `responder add` (and the older `resident responder`). */
export const addResponder = async (
  ctx: Commands['ctx'],
  residentId: string,
  opts: { name: string; relationship: string; phone: string; order?: number; idempotencyKey?: string },
  cmd: Command,
) => {
  const { api, print } = ctx(cmd);
  const out = await api.addResponder({
    ...keyHeaders(opts),
    params: { id: residentId },
    body: given({ name: opts.name, relationship: opts.relationship, phone: opts.phone, order: opts.order }),
  });
  print(out, () => responderList(out));
};

/** `telecare responder add|list|remove`: a resident’s call list, in order. */
export function addResponderCommands(program: Command, { ctx }: Commands): void {
  const responder = program.command('responder').description('a resident’s call list, in order');
  withIdempotencyKey(responder.command('add'))
    .description('add a responder (last, or at --order, moving later ones down)')
    .argument('<residentId>')
    .requiredOption('--name <name>')
    .requiredOption('--relationship <relationship>')
    .requiredOption('--phone <phone>')
    .option('--order <n>', 'place in the call order (1 = first)', positiveInt)
    .action((residentId: string, opts, cmd: Command) => addResponder(ctx, residentId, opts, cmd));
  responder
    .command('list')
    .description('the call list, in order')
    .argument('<residentId>')
    .action(async (residentId: string, _opts, cmd: Command) => {
      const { api, print } = ctx(cmd);
      const out = await api.listResponders({ params: { id: residentId } });
      print(out, () => responderList(out));
    });
  responder
    .command('remove')
    .description('remove a responder (the ones after move up)')
    .argument('<residentId>')
    .argument('<responderId>')
    .action(async (residentId: string, responderId: string, _opts, cmd: Command) => {
      const { api, print } = ctx(cmd);
      const out = await api.removeResponder({ params: { id: residentId, responderId } });
      print(out, () => responderList(out));
    });
}
