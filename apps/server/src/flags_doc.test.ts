import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { flagsMarkdown } from './flags_doc.js';

const page = new URL('../../../docs/flags.md', import.meta.url);
const marker = '\n### ';

/** The page as prettier leaves it or as flagsMarkdown() writes it: table cells trimmed, rules '---'. */
const normalize = (text: string) =>
  text
    .split('\n')
    .map((l) =>
      l.startsWith('|')
        ? l
            .split('|')
            .map((c) => c.trim().replace(/^-{3,}$/, '---'))
            .join('|')
        : l,
    )
    .join('\n');

describe('docs/flags.md', () => {
  it('lists every flag of flag_table.ts with what kvd does (KV_UPDATE_DOCS=1 rewrites the tables)', () => {
    const text = readFileSync(page, 'utf8');
    const intro = text.slice(0, text.indexOf(marker) + 1);
    const expected = `${intro}${flagsMarkdown()}\n`;
    if (process.env.KV_UPDATE_DOCS === '1') writeFileSync(page, expected);
    expect(normalize(text)).toBe(normalize(expected));
  });
});
