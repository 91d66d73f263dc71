import path from 'node:path';
import madge from 'madge';

/**
 * Fails when the code's folders import each other in a cycle, or when a feature reaches into the
 * server. A folder is a module of src/modules/ or a top-level folder of src/ (server, shared, db);
 * src/app.ts, src/main.ts and src/sweeper.ts are the composition root and may import anything.
 * Type-only imports count too: a cycle of types is still two folders that cannot be read apart.
 */
const ROOT = path.join(__dirname, '..');

function folderOf(file: string): string | null {
  const parts = file.split('/');
  if (parts[0] !== 'src') return null;
  if (parts[1] === 'modules') return `modules/${parts[2]}`;
  if (parts.length === 2) return null; // the composition root
  if (parts[1] === 'console') return null; // the browser app, checked by its own tsconfig
  return parts[1]!;
}

async function main(): Promise<void> {
  const result = await madge(path.join(ROOT, 'src'), {
    baseDir: ROOT,
    fileExtensions: ['ts'],
    tsConfig: path.join(ROOT, 'tsconfig.json'),
    excludeRegExp: [/^src\/console\//],
  });
  const graph = result.obj();
  const edges = new Map<string, Map<string, string>>(); // folder -> folder -> an example import
  const problems: string[] = [];
  for (const [file, imports] of Object.entries(graph)) {
    const from = folderOf(file);
    if (!from) continue;
    for (const imported of imports) {
      const to = folderOf(imported);
      if (!to || to === from) continue;
      if (to === 'server')
        problems.push(`${file} imports ${imported}: a feature must not reach into server/`);
      if (from === 'shared' && to !== 'shared')
        problems.push(`${file} imports ${imported}: shared/ imports nothing of ours`);
      if (!edges.has(from)) edges.set(from, new Map());
      if (!edges.get(from)!.has(to)) edges.get(from)!.set(to, `${file} -> ${imported}`);
    }
  }
  for (const component of folderCycles(edges)) {
    const inside = new Set(component);
    const steps = component.flatMap((f) =>
      [...(edges.get(f) ?? new Map<string, string>())]
        .filter(([to]) => inside.has(to))
        .map(([, example]) => example),
    );
    problems.push(
      `folders that import each other in a cycle: ${component.join(', ')}\n    ${steps.join('\n    ')}`,
    );
  }
  if (problems.length > 0) {
    console.error(problems.join('\n'));
    process.exit(1);
  }
  console.log(`module boundaries hold (${edges.size} folders, no cycles, no feature importing server/)`);
}

/** The groups of folders that reach each other (strongly connected components of more than one, by Tarjan). */
function folderCycles(edges: Map<string, Map<string, string>>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  let next = 0;
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v)?.keys() ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) components.push(component.reverse());
    }
  };
  for (const v of edges.keys()) if (!index.has(v)) visit(v);
  return components;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(2);
});
