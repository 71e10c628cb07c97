// Building the page without innerHTML: every piece of data reaches the DOM as a text node, so
// keys and values (arbitrary bytes) can never become markup.

type Child = Node | string | number | null | undefined | false;

/** An element with attributes (set with setAttribute, never as HTML) and children (strings become text nodes). */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  append(e, ...children);
  return e;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    parent.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
  }
}

/** Replaces an element's children. */
export function fill(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, ...children);
}

/** A member ID (uint64 as the gateway writes it, decimal) in etcdctl's hex. */
export function hexId(id: string | undefined): string {
  if (!id) return '—';
  try {
    return BigInt(id).toString(16);
  } catch {
    return id;
  }
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
