// B2's peer reference (bench/run): graphile-worker draining N no-op jobs
// from a database of its own, with the batching options its documentation
// gives for throughput (a local queue, batched completion). Prints one JSON
// line: the jobs, the seconds from the runner's start to the last
// completion (its row deleted), and the rate.
//
//   node drain.mjs CONNECTION_STRING [JOBS] [CONCURRENCY]
import { Logger, run, runMigrations, makeWorkerUtils } from "graphile-worker";

const [connectionString, jobsArg, concurrencyArg] = process.argv.slice(2);
const jobs = Number(jobsArg ?? 100000);
const concurrency = Number(concurrencyArg ?? 24);
if (!connectionString || !(jobs > 0) || !(concurrency > 0)) {
  console.error("usage: node drain.mjs CONNECTION_STRING [JOBS] [CONCURRENCY]");
  process.exit(2);
}

const preset = {
  worker: {
    connectionString,
    concurrentJobs: concurrency,
    maxPoolSize: concurrency + 4,
    localQueue: { size: 500 },
    completeJobBatchDelay: 0,
    failJobBatchDelay: 0,
    pollInterval: 1000,
  },
};
// No line per job on stdout (troupe logs no line per job either).
const logger = new Logger(() => () => {});

await runMigrations({ connectionString, logger });
const utils = await makeWorkerUtils({ connectionString, logger });
// Queued in one statement per 10,000, before the runner starts.
for (let added = 0; added < jobs; added += 10000) {
  const n = Math.min(10000, jobs - added);
  await utils.withPgClient((pg) =>
    pg.query(
      "SELECT graphile_worker.add_jobs(array_agg(ROW('noop', '{}'::json, NULL, NULL, NULL, NULL, NULL, NULL)::graphile_worker.job_spec)) FROM generate_series(1, $1)",
      [n],
    ),
  );
}

let done = 0;
let finished;
const allDone = new Promise((resolve) => (finished = resolve));
const start = process.hrtime.bigint();
const runner = await run({
  preset,
  logger,
  noHandleSignals: true,
  taskList: {
    noop: async () => {
      if (++done === jobs) finished();
    },
  },
});
await allDone;
// The last job ran; it is complete once its row is gone (completions are
// batched): look every 5 ms.
for (;;) {
  const { rows } = await utils.withPgClient((pg) =>
    pg.query("SELECT count(*)::int AS n FROM graphile_worker._private_jobs"),
  );
  if (rows[0].n === 0) break;
  await new Promise((r) => setTimeout(r, 5));
}
const end = process.hrtime.bigint();
await runner.stop();
await utils.release();
const seconds = Number(end - start) / 1e9;
console.log(JSON.stringify({ jobs, concurrency, seconds, jobs_per_s: Math.round(jobs / seconds) }));
