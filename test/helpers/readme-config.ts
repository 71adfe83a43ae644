import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The commented config example in the README, as a user would copy it: comments removed. */
export function readmeExample(): string {
  const readme = readFileSync(join(__dirname, '../../README.md'), 'utf8');
  const block = readme.split('```jsonc\n')[1]?.split('```')[0];
  if (block === undefined) throw new Error('README.md has no ```jsonc config example');
  return block
    .split('\n')
    .filter((line) => !line.trim().startsWith('//'))
    .map((line) => line.replace(/\s+\/\/.*$/, ''))
    .join('\n');
}
