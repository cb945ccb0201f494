/**
 * Where NUL characters sit in a parsed JSON body, query or path parameters (keys and values), as
 * dotted paths; at most `limit` of them. PostgreSQL text and jsonb cannot hold NUL, so a service
 * refuses such input by field (400) instead of failing at the insert (500).
 */
export function nulPaths(value: unknown, limit = 20): string[] {
  const found: string[] = [];
  const walk = (item: unknown, at: string): void => {
    if (found.length >= limit) return;
    if (typeof item === 'string') {
      if (item.includes('\u0000')) found.push(at || '(body)');
    } else if (Array.isArray(item)) {
      for (const [i, inner] of item.entries()) walk(inner, at ? `${at}.${i}` : String(i));
    } else if (typeof item === 'object' && item !== null) {
      for (const [key, inner] of Object.entries(item)) {
        const path = at ? `${at}.${key}` : key;
        if (key.includes('\u0000')) found.push(path);
        else walk(inner, path);
      }
    }
  };
  walk(value, '');
  return found;
}
