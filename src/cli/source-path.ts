/**
 * The FILE argument of `send` (foreground or --queue): a regular file that can be read, checked
 * before anything is queued or sent.
 */
import { existsSync } from 'node:fs';
import { FtError } from '../errors';
import { checkSendable } from '../transfer/source-file';

/** Returns the file's size; throws SOURCE_UNREADABLE saying what is wrong. */
export function checkSourceFile(path: string): number {
  try {
    return checkSendable(path);
  } catch (err) {
    // Node decodes argv as UTF-8: bytes that are not UTF-8 arrive as U+FFFD and name no file.
    if (path.includes('\uFFFD') && !existsSync(path)) {
      throw new FtError(
        'SOURCE_UNREADABLE',
        `${path}: the name contains bytes that are not UTF-8, which Node cannot pass through its command line; rename the file to UTF-8 (e.g. convmv -f latin1 -t utf8 --notest), or put it in a watch folder under a UTF-8 name`,
        { details: { path } },
      );
    }
    throw err;
  }
}
