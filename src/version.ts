// Replaced at build time by esbuild's `define`; the fallback serves tests run from source.
declare const FTAGENT_VERSION: string | undefined;
export const version: string = typeof FTAGENT_VERSION === 'string' ? FTAGENT_VERSION : '0.0.0-dev';
