import { processIo } from './command';
import { exitStatus } from './exit-codes';
import { main } from './main';

// Until a command decides, an event loop that empties early (a socket closed under a pending
// close) is a failure, never Node's default 0.
process.exitCode = exitStatus.failure;

// `ftagent status | head -1`: the reader went away. Nothing more can be said; stop quietly, with
// status 1 whatever the command had decided (its output was not all delivered), like a pipeline's
// failed writer rather than a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(exitStatus.failure);
  throw err;
});

/** After the result is out, nothing may keep the process alive (a leaked timer or socket). */
const exitGraceMs = 3000;

main(process.argv.slice(2), { ...processIo(), settle: (status) => (process.exitCode = status) }).then(
  (status) => {
    process.exitCode = status;
    setTimeout(() => process.exit(), exitGraceMs).unref();
  },
  (err: unknown) => {
    process.stderr.write(`ftagent: unexpected failure: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = exitStatus.failure;
    setTimeout(() => process.exit(), exitGraceMs).unref();
  },
);
