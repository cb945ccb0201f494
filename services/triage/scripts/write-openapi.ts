import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { TRIAGE_API, TRIAGE_ROUTES } from '@telecare/contracts';
import { openApiDocument } from '@telecare/platform';

// The committed copy of the document triage serves at /openapi.json; a test checks it is current.
const target = fileURLToPath(new URL('../openapi.json', import.meta.url));
writeFileSync(target, `${JSON.stringify(await openApiDocument(TRIAGE_API, TRIAGE_ROUTES), null, 2)}\n`);
console.log(`wrote ${target}`);
