/**
 * File names that are not UTF-8: a watch folder reports each matching one once (instead of never
 * queueing it without a word) and still queues its other files; `send` given such a name on the
 * command line says why it cannot open it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { WatchFolder } from '../../src/jobs/watch-folder';
import { createLogger } from '../../src/log';
import { systemClock } from '../../src/time/clock';
import { createNodeDurableFs } from '../../src/storage/node-fs';
import { Spool } from '../../src/storage/spool';
import { agentBundle, ensureFreshBundles } from '../helpers/fresh-bundles';

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'ftagent-names-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** "café.jpg" written in Latin-1: 0xE9 alone is not UTF-8. */
const latin1Name = Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x2e, 0x6a, 0x70, 0x67]);

describe('file names that are not UTF-8', () => {
  it('a watch folder warns once per such file and queues the others', async () => {
    const dir = join(root, 'watch');
    mkdirSync(dir, { recursive: true });
    writeFileSync(Buffer.concat([Buffer.from(`${dir}/`), latin1Name]), 'latin1');
    writeFileSync(join(dir, 'plain.jpg'), 'plain');
    let log = '';
    const logger = createLogger({ level: 'warn', stream: new Writable({ write: (c, _e, done) => ((log += String(c)), done()) }) });
    const fs = createNodeDurableFs();
    const stateDir = join(root, 'state');
    const spool = await Spool.open(fs, stateDir);
    const folder = new WatchFolder({ dir, pattern: '*.jpg', settleMs: 0, afterSuccess: 'keep', upload: {} }, { fs, spool, stateDir, clock: systemClock, logger });
    await folder.open();
    await folder.scan();
    await folder.scan();
    const queued = (await spool.list()).map((j) => j.spec.file);
    expect(queued).toEqual([join(dir, 'plain.jpg')]);
    const warnings = log.split('\n').filter((l) => l.includes('not valid UTF-8'));
    expect(warnings).toHaveLength(1);
    expect(JSON.parse(warnings[0] as string)).toMatchObject({ name: 'caf\\xe9.jpg', nameHex: latin1Name.toString('hex') });
  });

  it('send with such a name on the command line exits 3 and says what is wrong', async () => {
    await ensureFreshBundles();
    const dir = join(root, 'send');
    mkdirSync(dir, { recursive: true });
    writeFileSync(Buffer.concat([Buffer.from(`${dir}/`), latin1Name]), 'latin1');
    // bash passes the raw bytes through argv, as a device script would.
    const r = spawnSync('bash', ['-c', `exec "${process.execPath}" "${agentBundle}" send "$(printf 'caf\\xe9.jpg')" --broker mqtt://127.0.0.1:1 --json`], { cwd: dir, encoding: 'utf8' });
    expect(r.status).toBe(3);
    expect(JSON.parse(r.stdout.trim())).toMatchObject({ ok: false, error: { code: 'SOURCE_UNREADABLE', message: expect.stringMatching(/not UTF-8/) } });
  });
});
