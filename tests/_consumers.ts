import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
const nc = await connect({ servers: 'nats://127.0.0.1:4222' });
const jsm = await jetstreamManager(nc);
const name = process.argv[2]!;
for (let i = 0; i < Number(process.argv[3] ?? 1); i++) {
  const s = await jsm.streams.info(name);
  const out = [new Date().toISOString().slice(11, 19), 'msgs', s.state.messages];
  for await (const c of jsm.consumers.list(name)) out.push(c.name, 'pending', c.num_pending, 'ack', c.num_ack_pending);
  console.log(out.join(' '));
  await new Promise((r) => setTimeout(r, 5000));
}
await nc.close();
