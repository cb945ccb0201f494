import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { HELPLINE_API, HELPLINE_ROUTES } from '@telecare/contracts';
import { openApiDocument } from '@telecare/platform';

// The committed copy of the document the service serves at /api/openapi.json; a test checks it is current.
const target = fileURLToPath(new URL('../openapi.json', import.meta.url));
writeFileSync(target, `${JSON.stringify(await openApiDocument(HELPLINE_API, HELPLINE_ROUTES), null, 2)}\n`);
console.log(`wrote ${target}`);
