// The original system's JS sync client (@tursodatabase/sync, installed by
// scripts/install-js-client.sh) driven from the command line, for
// tests/tests/js_client.rs.
//
//   node interop.mjs [--remote-writes] [--token T] <url> <dir> <command>...
//
// <url> is the sync URL (multi-tenant: `<turso-server>/<namespace>`), <dir>
// the directory holding this client's replica (`<dir>/replica.db`, created
// and bootstrapped from the server on first use). The package is loaded from
// the directory named by JS_CLIENT_DIR.
//
// Commands run in order on one connection, each printing one JSON line
// `{"op": ..., "ok": true, ...}`:
//
//   write <id> <body>   INSERT INTO notes (id, body) on the local replica (prepared statement)
//   exec <sql>          db.exec(sql)
//   push                push local changes
//   pull                pull; {"changed": bool}
//   read                SELECT id, body FROM notes ORDER BY id; {"rows": [{id, body}...]}
//   stats               the engine's stats (pending cdcOperations, revision, ...)
//   server-read         the same SELECT sent straight to <url>/v2/pipeline (no replica)
//
// The first failing command prints `{"op": ..., "ok": false, "error": ...,
// "code": ...}` and the script exits with status 2; a usage error exits 64.
import { createRequire } from "node:module";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const ARITY = { write: 2, exec: 1, push: 0, pull: 0, read: 0, stats: 0, "server-read": 0 };
const SELECT_NOTES = "SELECT id, body FROM notes ORDER BY id";

function usage(message) {
  process.stderr.write(`interop.mjs: ${message}\n`);
  process.stderr.write(
    "usage: node interop.mjs [--remote-writes] [--token T] <url> <dir> <command>...\n",
  );
  process.exit(64);
}

function emit(line) {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

// Integers beyond 2^53 are not used by the test; BigInt would not serialize.
function plain(value) {
  return typeof value === "bigint" ? Number(value) : value;
}

function parseArgs(argv) {
  const opts = { remoteWrites: false, token: undefined };
  let i = 0;
  for (; i < argv.length && argv[i].startsWith("--"); i++) {
    if (argv[i] === "--remote-writes") opts.remoteWrites = true;
    else if (argv[i] === "--token") opts.token = argv[++i] ?? usage("--token needs a value");
    else usage(`unknown option ${argv[i]}`);
  }
  const [url, dir, ...rest] = argv.slice(i);
  if (!url || !dir) usage("missing <url> or <dir>");
  const commands = [];
  while (rest.length > 0) {
    const op = rest.shift();
    if (!(op in ARITY)) usage(`unknown command ${op}`);
    if (rest.length < ARITY[op]) usage(`${op} needs ${ARITY[op]} argument(s)`);
    commands.push({ op, args: rest.splice(0, ARITY[op]) });
  }
  if (commands.length === 0) usage("no command");
  return { ...opts, url, dir, commands };
}

async function loadClient() {
  const clientDir = process.env.JS_CLIENT_DIR;
  if (!clientDir) {
    throw new Error("JS_CLIENT_DIR is not set: run scripts/install-js-client.sh");
  }
  const require = createRequire(join(clientDir, "package.json"));
  let entry;
  try {
    entry = require.resolve("@tursodatabase/sync");
  } catch (err) {
    throw new Error(
      `@tursodatabase/sync not found under ${clientDir} (${err.message}): run scripts/install-js-client.sh`,
    );
  }
  return import(pathToFileURL(entry).href);
}

// A read straight from the server's database through the Hrana pipeline
// endpoint tursodb serves: what the server holds, with no replica involved.
async function serverRead(url, token) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(`${url}/v2/pipeline`, {
    method: "POST",
    headers,
    body: JSON.stringify({
      requests: [{ type: "execute", stmt: { sql: SELECT_NOTES } }],
    }),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`POST ${url}/v2/pipeline: HTTP ${response.status}: ${text}`);
  const result = JSON.parse(text).results[0];
  if (result.type !== "ok") throw new Error(`server-read: ${JSON.stringify(result.error)}`);
  const rows = result.response.result.rows.map(([id, body]) => ({
    id: Number(id.value),
    body: body.type === "null" ? null : body.value,
  }));
  return { rows };
}

async function main() {
  const { remoteWrites, token, url, dir, commands } = parseArgs(process.argv.slice(2));
  const { connect } = await loadClient();
  let db = null;
  const open = async () => {
    if (db === null) {
      mkdirSync(dir, { recursive: true });
      db = await connect({
        path: join(dir, "replica.db"),
        url,
        authToken: token,
        clientName: "interop",
        remoteWritesExperimental: remoteWrites,
      });
    }
    return db;
  };
  try {
    for (const { op, args } of commands) {
      try {
        emit({ op, ok: true, ...(await run(op, args, open, url, token)) });
      } catch (err) {
        emit({ op, ok: false, error: String(err?.message ?? err), code: err?.code ?? null });
        process.exitCode = 2;
        return;
      }
    }
  } finally {
    if (db !== null) await db.close();
  }
}

async function run(op, args, open, url, token) {
  switch (op) {
    case "write": {
      const db = await open();
      const stmt = await db.prepare("INSERT INTO notes (id, body) VALUES (?, ?)");
      const result = await stmt.run(Number(args[0]), args[1]);
      return { changes: plain(result.changes) };
    }
    case "exec":
      await (await open()).exec(args[0]);
      return {};
    case "push":
      await (await open()).push();
      return {};
    case "pull":
      return { changed: await (await open()).pull() };
    case "read": {
      const rows = await (await open()).prepare(SELECT_NOTES).then((s) => s.all());
      return { rows: rows.map((r) => ({ id: plain(r.id), body: r.body })) };
    }
    case "stats": {
      const stats = await (await open()).stats();
      return Object.fromEntries(Object.entries(stats).map(([k, v]) => [k, plain(v)]));
    }
    case "server-read":
      return serverRead(url, token);
    default:
      throw new Error(`unknown command ${op}`);
  }
}

main().catch((err) => {
  emit({ op: "start", ok: false, error: String(err?.message ?? err), code: err?.code ?? null });
  process.exitCode = 2;
});
