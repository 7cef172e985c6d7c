import { describe, expect, it } from '@jest/globals';
import { parseDuration } from '../../src/cli/duration.js';
import { CliFailure } from '../../src/cli/io.js';
import { printable, table } from '../../src/cli/table.js';
import { drawTree } from '../../src/cli/tree.js';

/** The admin CLI's output for people: trees, tables, and text from the server made safe for a terminal. */

interface Node {
  id: string;
  children: Node[];
}
const node = (id: string, ...children: Node[]): Node => ({ id, children });

describe('admin CLI formatting', () => {
  it('draws siblings with ├─, the last with └─, and keeps the rail only under a sibling that has more after it', () => {
    const tree = node('root', node('a', node('a1'), node('a2')), node('b', node('b1')));
    expect(drawTree(tree, (n) => n.id, (n) => n.children)).toBe([
      'root',
      '├─ a',
      '│  ├─ a1',
      '│  └─ a2',
      '└─ b',
      '   └─ b1',
      '',
    ].join('\n'));
  });

  it('pads columns to the widest cell, upper-cases headers, shows an absent value as -', () => {
    expect(table(['id', 'owner', 'note'], [['a', null, 'x'], ['longer-id', 'team', '']])).toBe('ID         OWNER  NOTE\na          -      x\nlonger-id  team   -\n');
  });

  it('replaces control characters and bidi overrides in server text', () => {
    expect(printable('evil\u001b[2J\u009b31m\u202etxt.exe\nnext')).toBe('evil?[2J?31m?txt.exe?next');
  });

  it.each([['90', 90], ['90s', 90], ['15m', 900], ['1h', 3_600], ['7d', 604_800], ['0', 0]])('duration %s is %d seconds', (raw, seconds) => {
    expect(parseDuration(raw)).toBe(seconds);
  });

  it.each(['1y', '1.5h', '-1h', 'h', '', '1 h'])('duration %j is a usage error (exit 1)', (raw) => {
    expect(() => parseDuration(raw)).toThrow(CliFailure);
    expect(() => parseDuration(raw)).toThrow(expect.objectContaining({ exitCode: 1 }));
  });
});
