import type { z } from 'zod';

/** A zod error as one line per issue: "path: message" (the first issue of a path only). */
export function describeIssues(error: z.ZodError): string {
  const seen = new Set<string>();
  const lines: string[] = [];
  for (const issue of error.issues) {
    const path = issue.path.join('.');
    if (seen.has(path)) continue;
    seen.add(path);
    if (issue.code === 'unrecognized_keys') lines.push(`unknown field(s): ${issue.keys.join(', ')}`);
    else lines.push(path ? `${path} ${issue.message}` : issue.message);
  }
  return lines.join('; ');
}
