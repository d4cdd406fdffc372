// Build the web chat into fxim/web/static/ (committed, shipped in the
// Python package).  `node build.mjs --check` builds in memory and fails if
// the committed files differ: the bundle must always match its sources.
//
// Deterministic: a pinned esbuild (package.json), no source maps, no
// timestamps or absolute paths in the output.

import { readFileSync, writeFileSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, '..', '..', 'fxim', 'web', 'static');
const check = process.argv.includes('--check');

const result = await esbuild.build({
  absWorkingDir: here,
  entryPoints: ['src/main.js'],
  bundle: true,
  format: 'esm',
  target: ['es2020'],
  minify: true,
  legalComments: 'none',
  charset: 'utf8',
  write: false,
  outfile: 'app.js',
  logLevel: 'warning',
});

const files = new Map();
files.set('app.js', Buffer.from(result.outputFiles[0].contents));
for (const name of readdirSync(join(here, 'public')).sort()) {
  files.set(name, readFileSync(join(here, 'public', name)));
}

if (check) {
  const stale = [];
  for (const [name, data] of files) {
    let committed = null;
    try {
      committed = readFileSync(join(out, name));
    } catch (e) { /* missing */ }
    if (!committed || !committed.equals(data)) stale.push(name);
  }
  const extra = readdirSync(out).filter((n) => !files.has(n));
  if (stale.length || extra.length) {
    console.error(`fxim/web/static is not the build of clients/web (esbuild ${esbuild.version}): `
      + `differs: ${stale.join(', ') || '-'}; not built from sources: ${extra.join(', ') || '-'}. `
      + 'Run `npm run build` in clients/web and commit the result.');
    process.exit(1);
  }
  console.log(`fxim/web/static matches its sources (${files.size} files, esbuild ${esbuild.version})`);
} else {
  mkdirSync(out, { recursive: true });
  for (const [name, data] of files) writeFileSync(join(out, name), data);
  console.log(`built ${[...files.keys()].join(', ')} into fxim/web/static (esbuild ${esbuild.version})`);
}
