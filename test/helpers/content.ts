/** Deterministic, non-repeating content (xorshift), so a block in the wrong place changes the bytes. */
export function content(size: number, seed = 7): Buffer {
  const out = Buffer.alloc(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/**
 * Writes `size` bytes of deterministic content to `path` in 1 MiB pieces (each piece its own seed),
 * so a large test file never sits in memory; returns its SHA-256 (hex).
 */
export async function writeContentFile(path: string, size: number, seed = 7): Promise<string> {
  const { createHash } = await import('node:crypto');
  const { open } = await import('node:fs/promises');
  const hash = createHash('sha256');
  const handle = await open(path, 'w');
  try {
    const piece = 1 << 20;
    for (let at = 0, n = 0; at < size; at += piece, n++) {
      const bytes = content(Math.min(piece, size - at), seed + n);
      hash.update(bytes);
      await handle.write(bytes);
    }
  } finally {
    await handle.close();
  }
  return hash.digest('hex');
}
