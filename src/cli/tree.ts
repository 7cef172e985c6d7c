/** Draws a tree one node a line, children under their parent with ├─ └─ and │ rails. */
export function drawTree<N>(root: N, label: (n: N) => string, children: (n: N) => readonly N[]): string {
  const lines = [label(root)];
  const walk = (node: N, indent: string) => {
    const kids = children(node);
    kids.forEach((child, i) => {
      const last = i === kids.length - 1;
      lines.push(`${indent}${last ? '└─ ' : '├─ '}${label(child)}`);
      walk(child, `${indent}${last ? '   ' : '│  '}`);
    });
  };
  walk(root, '');
  return `${lines.join('\n')}\n`;
}
