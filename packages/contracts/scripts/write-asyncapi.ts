import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { asyncApiDocument } from '../src/index.ts';

const target = fileURLToPath(new URL('../asyncapi.json', import.meta.url));
writeFileSync(target, `${JSON.stringify(asyncApiDocument(), null, 2)}\n`);
console.log(`wrote ${target}`);
