// troupe's MCP server through the official TypeScript SDK's client, as an
// agent framework would use it. The SDK checks every structuredContent
// against the tool's outputSchema, so a result that breaks its own schema
// fails here. Started by the integration test Mcp.TheOfficialSdkClient…
// with TROUPE_MCP_URL, a key with every tool's scope (TROUPE_MCP_KEY) and
// one that may only read (TROUPE_MCP_READ_KEY).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const url = new URL(process.env.TROUPE_MCP_URL);
const key = process.env.TROUPE_MCP_KEY;
const readKey = process.env.TROUPE_MCP_READ_KEY;
const project = process.env.TROUPE_MCP_PROJECT; // analysed: it has a system map

// A connected client that has listed the tools: the SDK validates a tool's
// results against the outputSchema it saw in tools/list.
async function connect(credential) {
  const client = new Client({ name: 'troupe-sdk-test', version: '1.0.0' });
  const headers = credential ? { Authorization: `Bearer ${credential}` } : {};
  await client.connect(new StreamableHTTPClientTransport(url, { requestInit: { headers } }));
  await client.listTools();
  return client;
}

const ace = [
  '## STRATEGIES & INSIGHTS',
  '[sai-00001] helpful=0 harmful=0 :: Retry a flaky HTTP request with exponential backoff.',
  '[sai-00002] helpful=0 harmful=0 :: Write the changelog entry before tagging a release.',
  '## COMMON MISTAKES',
  '[err-00003] helpful=0 harmful=0 :: Never retry a POST without an idempotency key.',
  '',
].join('\n');

async function until(what, condition, timeoutMs = 60000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test('the SDK connects, negotiates the newest revision and lists every tool with schemas', async () => {
  const client = await connect(key);
  try {
    assert.equal(client.getServerVersion().name, 'troupe');
    assert.ok(client.getServerCapabilities().tools);
    assert.match(client.getInstructions(), /report_outcome/);
    // Stateless: no session was issued.
    assert.equal(client.transport.sessionId, undefined);
    const { tools } = await client.listTools();
    assert.deepEqual(
      tools.map((t) => t.name),
      ['list_playbooks', 'get_playbook', 'find_playbook', 'create_playbook', 'create_version',
        'report_outcome', 'record_outcome', 'trigger_evolution', 'get_evolution_status',
        'get_system_map'],
    );
    for (const t of tools) {
      assert.equal(t.inputSchema.type, 'object', t.name);
      assert.equal(t.outputSchema.type, 'object', t.name);
    }
    await client.ping();
  } finally {
    await client.close();
  }
});

test('an agent reads a project\'s system map, within its schema', async () => {
  const client = await connect(key);
  try {
    const map = await client.callTool({ name: 'get_system_map', arguments: { project_id: project } });
    assert.equal(map.isError, false, JSON.stringify(map));
    assert.equal(map.structuredContent.schema, 'troupe.system_map/1');
    assert.deepEqual(map.structuredContent.languages.map((l) => l.name), ['Python']);
    assert.deepEqual(map.structuredContent.entry_points, [{ path: 'main.py', kind: 'python-main' }]);
    const missing = await client.callTool({
      name: 'get_system_map',
      arguments: { project_id: '01a24a10-bb6a-781b-af91-13e9df6fd83c' },
    });
    assert.equal(missing.isError, true);
  } finally {
    await client.close();
  }
});

test('an agent creates, reads, reports on and evolves a playbook, every result within its schema', async () => {
  const client = await connect(key);
  try {
    const created = await client.callTool({
      name: 'create_playbook',
      arguments: { name: 'sdk hygiene', initial_content: ace, evolution_threshold: 50 },
    });
    assert.equal(created.isError, false, JSON.stringify(created));
    const id = created.structuredContent.id;

    const found = await client.callTool({ name: 'find_playbook', arguments: { task_description: 'tag a release' } });
    assert.equal(found.structuredContent.best.id, id);

    const context = await client.callTool({
      name: 'get_playbook',
      arguments: { playbook_id: id, task: 'retry the HTTP request', max_tokens: 500 },
    });
    assert.deepEqual(context.structuredContent.bullet_ids, ['sai-00001', 'err-00003']);
    assert.equal(context.content[0].type, 'text');
    assert.match(context.content[0].text, /\[sai-00001\]/);

    const whole = await client.callTool({ name: 'get_playbook', arguments: { playbook_id: id } });
    assert.equal(whole.structuredContent.version, 1);
    assert.equal(whole.structuredContent.content, ace);

    const report = {
      playbook_id: id,
      task_description: 'retry the upload',
      outcome: 'success',
      bullet_ids: ['sai-00001'],
      idempotency_key: 'sdk-run-1',
    };
    const first = await client.callTool({ name: 'report_outcome', arguments: report });
    assert.equal(first.isError, false, JSON.stringify(first));
    assert.ok(first.structuredContent.outcome_id);
    const again = await client.callTool({ name: 'record_outcome', arguments: report });
    assert.equal(again.structuredContent.outcome_id, first.structuredContent.outcome_id);

    const triggered = await client.callTool({ name: 'trigger_evolution', arguments: { playbook_id: id } });
    assert.equal(triggered.isError, false, JSON.stringify(triggered));
    const job = triggered.structuredContent.job_id;
    const done = await until('the evolution', async () => {
      const s = await client.callTool({ name: 'get_evolution_status', arguments: { job_id: job } });
      return s.structuredContent.status === 'completed' && s;
    });
    assert.equal(done.structuredContent.kind, 'evolution');
    const evolved = await client.callTool({ name: 'get_playbook', arguments: { playbook_id: id } });
    assert.equal(evolved.structuredContent.version, 2);
    assert.match(evolved.structuredContent.content, /\[sai-00001\] helpful=1 harmful=0/);

    const written = await client.callTool({
      name: 'create_version',
      arguments: { playbook_id: id, content: ace, diff_summary: 'back to the start' },
    });
    assert.equal(written.structuredContent.number, 3);
    const listed = await client.callTool({ name: 'list_playbooks', arguments: {} });
    assert.ok(listed.structuredContent.items.some((p) => p.id === id));
  } finally {
    await client.close();
  }
});

test('tool errors come back as results with a readable message', async () => {
  const reader = await connect(readKey);
  try {
    const denied = await reader.callTool({ name: 'create_playbook', arguments: { name: 'not allowed' } });
    assert.equal(denied.isError, true);
    assert.match(denied.content[0].text, /playbooks:write/);
    const listed = await reader.callTool({ name: 'list_playbooks', arguments: {} });
    assert.ok(!listed.structuredContent.items.some((p) => p.name === 'not allowed'));
    const missing = await reader.callTool({
      name: 'get_playbook',
      arguments: { playbook_id: '00000000-0000-4000-8000-000000000000' },
    });
    assert.equal(missing.isError, true);
    assert.match(missing.content[0].text, /not found/);
    // A bad argument: the REST handler's refusal, as a result.
    const bad = await reader.callTool({
      name: 'get_playbook',
      arguments: { playbook_id: 'not-a-uuid' },
    });
    assert.equal(bad.isError, true);
    assert.match(bad.content[0].text, /invalid_argument/);
    const unknown = await reader.callTool({ name: 'list_playbooks', arguments: { colour: 'red' } });
    assert.equal(unknown.isError, true);
    assert.match(unknown.content[0].text, /unknown argument 'colour'/);
    // An unknown tool is a protocol error, which the SDK throws.
    await assert.rejects(reader.callTool({ name: 'drop_tables', arguments: {} }), /unknown tool/);
  } finally {
    await reader.close();
  }
});

test('without a credential the SDK cannot connect', async () => {
  await assert.rejects(connect(undefined), /401|unauthenticated/i);
  await assert.rejects(connect('tr_000000000000_not-a-key'), /401|unauthenticated/i);
});
