import 'reflect-metadata';
import fs from 'node:fs';
import path from 'node:path';
import { lexicographicSortSchema, printSchema } from 'graphql';
import { createSchema } from '../src/server/schema';

// Writes the SDL that type-graphql builds to schema/schema.graphql; with --check, fails when the
// committed file is stale instead.
const target = path.join(__dirname, '..', 'schema', 'schema.graphql');

export async function currentSdl(): Promise<string> {
  const schema = await createSchema([], null);
  return `# Generated from the resolvers by \`npm run emit:schema\`. Do not edit.\n\n${printSchema(lexicographicSortSchema(schema))}\n`;
}

if (require.main === module) {
  void currentSdl().then((sdl) => {
    if (process.argv.includes('--check')) {
      const committed = fs.existsSync(target) ? fs.readFileSync(target, 'utf8') : '';
      if (committed !== sdl) {
        console.error('schema/schema.graphql is stale: run `npm run emit:schema` and commit it.');
        process.exit(1);
      }
      console.log('schema/schema.graphql is up to date.');
    } else {
      fs.writeFileSync(target, sdl);
      console.log(`wrote ${path.relative(process.cwd(), target)}`);
    }
  });
}
