#!/usr/bin/env node
// Rate limiting must not break an MCP client session (official TypeScript SDK).
//
// Connects over Streamable HTTP, fires a burst of concurrent tools/call, and checks that every
// call *returned*: those over the rate limit as a tool error (isError: true, text starting with
// "rate limited"), none threw, and the client stayed connected. Then it waits as long as the
// refusals said and makes one more call, which must succeed.
//
//   node rate_limit_check.mjs URL [--token TOKEN] [--calls 60] [--sdk 1|2] [--mode auto|legacy]
//                                 [--tool mouse_move] [--arguments '{"x":1,"y":1}']
//
// --sdk 1 (default): @modelcontextprotocol/sdk 1.x (always the initialize handshake).
// --sdk 2: @modelcontextprotocol/client 2.x; --mode auto negotiates 2026-07-28 where offered.
// Only the package of the chosen --sdk needs to be installed.
// Prints one JSON line (the summary) on stdout; exits 0 on success, 1 on a failed check,
// 2 on bad usage.

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const RATE_LIMITED_PREFIX = 'rate limited';

function usage(message) {
  console.error(`usage: node rate_limit_check.mjs URL [--token T] [--calls N] [--sdk 1|2] [--mode auto|legacy] [--tool NAME] [--arguments JSON] [--min-limited N] [--timeout S]\n${message}`);
  process.exit(2);
}

let opts;
try {
  opts = parseArgs({
    allowPositionals: true,
    options: {
      token: { type: 'string' },
      calls: { type: 'string', default: '60' },
      sdk: { type: 'string', default: '1' },
      mode: { type: 'string', default: 'auto' },
      tool: { type: 'string', default: 'mouse_move' },
      arguments: { type: 'string', default: '{"x":1,"y":1}' },
      'min-limited': { type: 'string', default: '1' },
      timeout: { type: 'string', default: '180' },
    },
  });
} catch (e) {
  usage(e.message);
}
const { values: o, positionals } = opts;
if (positionals.length !== 1) usage('give exactly one URL');
const url = positionals[0];
const calls = Number(o.calls);
const minLimited = Number(o['min-limited']);
const timeoutS = Number(o.timeout);
if (!Number.isInteger(calls) || calls < 1) usage('--calls must be a positive integer');
if (!['1', '2'].includes(o.sdk)) usage('--sdk must be 1 or 2');
if (!['auto', 'legacy'].includes(o.mode)) usage('--mode must be auto or legacy');
let toolArguments;
try {
  toolArguments = JSON.parse(o.arguments);
} catch (e) {
  usage(`--arguments is not JSON: ${e.message}`);
}

const summary = {
  sdk: null,
  mode: o.sdk === '2' ? o.mode : 'legacy',
  protocol: null,
  calls,
  ok: 0,
  rate_limited: 0,
  other_tool_errors: 0,
  raised: 0,
  final_call: null,
  session_error: null,
  samples: {},
};

const describe = (e) => `${e?.constructor?.name ?? typeof e}: ${e?.message ?? String(e)}`.replace(/\s+/g, ' ').slice(0, 400);
const textOf = (result) => (result.content ?? []).filter((c) => c.type === 'text').map((c) => c.text).join(' ');

async function loadSdk() {
  if (o.sdk === '2') {
    const mod = await import('@modelcontextprotocol/client');
    summary.sdk = `ts @modelcontextprotocol/client ${versionOf('@modelcontextprotocol/client')}`;
    return { Client: mod.Client, Transport: mod.StreamableHTTPClientTransport };
  }
  const { Client } = await import('@modelcontextprotocol/sdk/client/index.js');
  const { StreamableHTTPClientTransport } = await import('@modelcontextprotocol/sdk/client/streamableHttp.js');
  summary.sdk = `ts @modelcontextprotocol/sdk ${versionOf('@modelcontextprotocol/sdk')}`;
  return { Client, Transport: StreamableHTTPClientTransport };
}

function versionOf(pkg) {
  // The packages do not all export package.json: look for it up the node_modules chain.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      return JSON.parse(readFileSync(join(dir, 'node_modules', pkg, 'package.json'), 'utf8')).version;
    } catch {}
    const up = dirname(dir);
    if (up === dir) return '?';
    dir = up;
  }
}

async function run() {
  const { Client, Transport } = await loadSdk();
  const clientOptions = o.sdk === '2' ? { versionNegotiation: { mode: o.mode } } : {};
  const client = new Client({ name: 'rate-limit-check', version: '1.0.0' }, clientOptions);
  let closed = false;
  client.onclose = () => { closed = true; };
  const requestInit = o.token ? { headers: { Authorization: `Bearer ${o.token}` } } : undefined;
  const transport = new Transport(new URL(url), { requestInit });
  await client.connect(transport);
  summary.protocol = client.getNegotiatedProtocolVersion?.() ?? transport.protocolVersion ?? null;
  try {
    await client.listTools();
    const call = () => client.callTool({ name: o.tool, arguments: toolArguments });

    const outcomes = await Promise.allSettled(Array.from({ length: calls }, call));
    let retryMs = 0;
    for (const outcome of outcomes) {
      if (outcome.status === 'rejected') {
        summary.raised++;
        summary.samples.raised ??= describe(outcome.reason);
        continue;
      }
      const text = textOf(outcome.value);
      if (!outcome.value.isError) summary.ok++;
      else if (text.startsWith(RATE_LIMITED_PREFIX)) {
        summary.rate_limited++;
        summary.samples.rate_limited ??= text;
        const m = /retry in (\d+) ms/.exec(text);
        if (m) retryMs = Math.max(retryMs, Number(m[1]));
      } else {
        summary.other_tool_errors++;
        summary.samples.other_tool_error ??= text.slice(0, 400);
      }
    }
    if (closed) summary.session_error = 'the client was closed during the burst';

    // Wait as long as the refusals asked (plus a margin), at least 1 s and at most 60 s.
    const waitS = Math.min(Math.max(retryMs / 1000 + 0.25, 1), 60);
    summary.waited_s = Math.round(waitS * 100) / 100;
    await new Promise((r) => setTimeout(r, waitS * 1000));
    try {
      const final = await call();
      summary.final_call = final.isError ? `tool error: ${textOf(final).slice(0, 400)}` : 'ok';
    } catch (e) {
      summary.final_call = `raised ${describe(e)}`;
    }
  } finally {
    await client.close().catch(() => {});
  }
}

let timer;
try {
  await Promise.race([
    run(),
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${timeoutS} s`)), timeoutS * 1000); }),
  ]);
} catch (e) {
  summary.session_error = describe(e);
} finally {
  clearTimeout(timer);
}

const problems = [];
if (summary.session_error) problems.push(`the session failed: ${summary.session_error}`);
if (summary.raised) problems.push(`${summary.raised} call(s) threw instead of returning a tool result: ${summary.samples.raised}`);
if (summary.other_tool_errors) problems.push(`${summary.other_tool_errors} call(s) returned an unexpected tool error: ${summary.samples.other_tool_error}`);
if (!summary.session_error && !summary.raised && summary.rate_limited < minLimited) {
  problems.push(`only ${summary.rate_limited} call(s) were rate limited (wanted at least ${minLimited}): send more --calls or lower the server's rate limit`);
}
if (!summary.session_error && summary.final_call !== 'ok') problems.push(`the call after waiting did not succeed: ${summary.final_call}`);
summary.passed = problems.length === 0;
console.log(JSON.stringify(summary));
for (const p of problems) console.error(`FAIL: ${p}`);
process.exit(problems.length === 0 ? 0 : 1);
