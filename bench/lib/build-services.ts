/**
 * `pnpm exec tsx bench/lib/build-services.ts --out <folder> [name…]`: each service (or those named)
 * as one ES module, `<folder>/<name>.mjs`, that Node runs without tsx, for a bench to run in its
 * place (`BENCH_SERVICE_BUILD=<folder>`, bench/README.md, "Services built without tsx").
 *
 * Under tsx every module is compiled as it loads with names kept (a `__name` call for each named
 * function made at run time) and source maps on; the bundle has neither. Our own packages
 * (`@telecare/*`) are bundled in; every npm package stays outside, imported by its path in
 * node_modules relative to the folder, the file Node itself resolves from the package that imports
 * it, so a bundle loads the very modules tsx would. A file that finds its folder through
 * `import.meta.url` (migrations, web pages) gets its own source file's URL.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build, type Plugin } from 'esbuild';

const { values: options, positionals: wanted } = parseArgs({
  options: { out: { type: 'string' } },
  allowPositionals: true,
  strict: true,
});
if (!options.out) throw new Error('usage: tsx bench/lib/build-services.ts --out <folder> [name…]');
const outDir = path.resolve(options.out);
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/** Every npm package external, by its resolved path relative to the bundles' folder. */
const npmPackagesByPath: Plugin = {
  name: 'npm-packages-by-path',
  setup(build) {
    build.onResolve({ filter: /^[^./]/ }, async (args) => {
      if (args.pluginData === 'inner' || args.path.startsWith('@telecare/') || args.path.startsWith('node:'))
        return undefined;
      const found = await build.resolve(args.path, {
        kind: args.kind,
        importer: args.importer,
        resolveDir: args.resolveDir,
        pluginData: 'inner',
      });
      if (found.errors.length > 0) return { errors: found.errors };
      if (!found.path.includes(`${path.sep}node_modules${path.sep}`)) return undefined;
      const relative = path.relative(outDir, found.path);
      return { path: relative.startsWith('.') ? relative : `./${relative}`, external: true };
    });
  },
};

/** `import.meta.url` in our own sources stands for the source file, not the bundle. */
const sourceFileUrls: Plugin = {
  name: 'source-file-urls',
  setup(build) {
    build.onLoad({ filter: /\.ts$/ }, (args) => {
      const source = readFileSync(args.path, 'utf8');
      if (!source.includes('import.meta.url') || args.path.includes(`${path.sep}node_modules${path.sep}`))
        return undefined;
      const own = `new URL(${JSON.stringify(path.relative(outDir, args.path))}, import.meta.url).href`;
      return { contents: source.replaceAll('import.meta.url', own), loader: 'ts' };
    });
  },
};

const all = readdirSync(path.join(repoRoot, 'services'));
for (const name of wanted) if (!all.includes(name)) throw new Error(`no service ${name} (${all.join(', ')})`);

for (const name of wanted.length > 0 ? wanted : all) {
  const started = performance.now();
  const outfile = path.join(outDir, `${name}.mjs`);
  const result = await build({
    absWorkingDir: repoRoot,
    entryPoints: [path.join(repoRoot, 'services', name, 'src', 'main.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // Node's own conditions only (esbuild adds `module` by default): the files Node would load.
    conditions: [],
    plugins: [npmPackagesByPath, sourceFileUrls],
    metafile: true,
    logLevel: 'warning',
  });
  const files = Object.keys(result.metafile.inputs).length;
  console.log(`${outfile}: ${files} files in ${Math.round(performance.now() - started)} ms`);
}
