// Drives the real AWS SDK for JavaScript v3 against Coffer's Secrets Manager
// (JSON protocol, HTTPS, SigV4) endpoint. Run by the Python e2e tests, which
// check the exit status: 0 and a final "sdk_check: OK <n> steps" line on
// success, 1 with a message naming the failed step otherwise.
//
// Environment (all required):
//   COFFER_AWS_ENDPOINT    e.g. https://127.0.0.1:50052
//   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION
//   COFFER_SECRET_PREFIX   unique secret-name prefix chosen by the caller
// TLS trust comes from NODE_EXTRA_CA_CERTS, set by the caller; verification is
// never disabled here.

import {
  SecretsManagerClient,
  CreateSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  DescribeSecretCommand,
  TagResourceCommand,
  UntagResourceCommand,
  GetRandomPasswordCommand,
  DeleteSecretCommand,
  ResourceNotFoundException,
  paginateListSecrets,
} from '@aws-sdk/client-secrets-manager';

class CheckFailure extends Error {}

let currentStep = '(setup)';
let stepsDone = 0;

function fail(msg) {
  throw new CheckFailure(msg);
}

function expect(cond, what, expected, got) {
  if (!cond) {
    fail(`${what}: expected ${expected}, got ${fmt(got)}`);
  }
}

function fmt(v) {
  if (v instanceof Uint8Array) return `Uint8Array[${Array.from(v).join(',')}]`;
  if (v instanceof Date) return `Date(${v.toISOString()})`;
  if (v === undefined) return 'undefined';
  try {
    return JSON.stringify(v);
  } catch {
    return String(v);
  }
}

function errName(e) {
  return e && typeof e === 'object' ? e.name : typeof e;
}

function errSummary(e) {
  if (!e || typeof e !== 'object') return String(e);
  const status = e.$metadata?.httpStatusCode;
  const code = e.code && e.code !== e.name ? ` code=${e.code}` : '';
  return `${e.name}${code}${status !== undefined ? ` (HTTP ${status})` : ''}: ${e.message}`;
}

async function step(name, fn) {
  currentStep = name;
  await fn();
  stepsDone += 1;
  console.log(`sdk_check: step ${name} ok`);
}

// Runs fn, which must throw; returns the error, or fails the step.
async function expectThrow(what, fn) {
  let result;
  try {
    result = await fn();
  } catch (e) {
    return e;
  }
  fail(`${what}: expected an error, but the call succeeded with ${fmt(result?.$metadata ? { ...result, $metadata: undefined } : result)}`);
}

function requireEnv(name) {
  const v = process.env[name];
  if (!v) fail(`environment variable ${name} is not set`);
  return v;
}

function isRecentDate(d, maxSkewMs = 10 * 60 * 1000) {
  return d instanceof Date && !Number.isNaN(d.getTime()) && Math.abs(Date.now() - d.getTime()) <= maxSkewMs;
}

function bytesEqual(a, b) {
  if (!(a instanceof Uint8Array) || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function tagsContain(tags, key, value) {
  return Array.isArray(tags) && tags.some((t) => t.Key === key && t.Value === value);
}

const created = new Set();

async function main() {
  const endpoint = requireEnv('COFFER_AWS_ENDPOINT');
  const accessKeyId = requireEnv('AWS_ACCESS_KEY_ID');
  const secretAccessKey = requireEnv('AWS_SECRET_ACCESS_KEY');
  const region = requireEnv('AWS_REGION');
  const prefix = requireEnv('COFFER_SECRET_PREFIX');

  const makeClient = (creds) =>
    new SecretsManagerClient({
      endpoint,
      region,
      credentials: creds,
      maxAttempts: 1,
      // Passed to @smithy/node-http-handler's NodeHttpHandler (the client's
      // own dependency): fail fast instead of hanging on a dead endpoint; the
      // request timeout (socket idle) only warns unless throwOnRequestTimeout.
      requestHandler: { connectionTimeout: 5000, requestTimeout: 30000, throwOnRequestTimeout: true },
    });

  const client = makeClient({ accessKeyId, secretAccessKey });
  const nameOne = `${prefix}/one`;
  const nameTwo = `${prefix}/two`;
  const nameThree = `${prefix}/three`;
  const allNames = [nameOne, nameTwo, nameThree];
  const firstValue = 'hunter2-js';
  const binaryValue = new Uint8Array([0, 1, 2, 255, 254]);

  await step('a CreateSecret', async () => {
    const r = await client.send(
      new CreateSecretCommand({
        Name: nameOne,
        SecretString: firstValue,
        Description: 'from js',
        Tags: [{ Key: 'team', Value: 'js' }],
      }),
    );
    created.add(nameOne);
    expect(typeof r.ARN === 'string' && r.ARN.length > 0, 'ARN', 'a non-empty string', r.ARN);
    expect(r.Name === nameOne, 'Name', fmt(nameOne), r.Name);
    expect(typeof r.VersionId === 'string' && r.VersionId.length > 0, 'VersionId', 'a non-empty string', r.VersionId);
  });

  await step('b GetSecretValue', async () => {
    const r = await client.send(new GetSecretValueCommand({ SecretId: nameOne }));
    expect(r.SecretString === firstValue, 'SecretString', fmt(firstValue), r.SecretString);
    expect(Array.isArray(r.VersionStages) && r.VersionStages.includes('AWSCURRENT'),
      'VersionStages', 'an array including AWSCURRENT', r.VersionStages);
    expect(isRecentDate(r.CreatedDate), 'CreatedDate', 'a Date within 10 minutes of now', r.CreatedDate);
  });

  await step('c PutSecretValue (binary)', async () => {
    const r = await client.send(new PutSecretValueCommand({ SecretId: nameOne, SecretBinary: binaryValue }));
    expect(Array.isArray(r.VersionStages) && r.VersionStages.length === 1 && r.VersionStages[0] === 'AWSCURRENT',
      'VersionStages', '["AWSCURRENT"]', r.VersionStages);
  });

  await step('d GetSecretValue by stage', async () => {
    const cur = await client.send(new GetSecretValueCommand({ SecretId: nameOne, VersionStage: 'AWSCURRENT' }));
    expect(bytesEqual(cur.SecretBinary, binaryValue), 'AWSCURRENT SecretBinary',
      'Uint8Array[0,1,2,255,254]', cur.SecretBinary);
    expect(cur.SecretString === undefined, 'AWSCURRENT SecretString', 'absent', cur.SecretString);
    const prev = await client.send(new GetSecretValueCommand({ SecretId: nameOne, VersionStage: 'AWSPREVIOUS' }));
    expect(prev.SecretString === firstValue, 'AWSPREVIOUS SecretString', fmt(firstValue), prev.SecretString);
  });

  await step('e DescribeSecret', async () => {
    const r = await client.send(new DescribeSecretCommand({ SecretId: nameOne }));
    expect(r.Description === 'from js', 'Description', '"from js"', r.Description);
    expect(tagsContain(r.Tags, 'team', 'js'), 'Tags', 'to contain team=js', r.Tags);
    const v2s = r.VersionIdsToStages;
    expect(v2s !== null && typeof v2s === 'object' && !Array.isArray(v2s) && Object.keys(v2s).length === 2,
      'VersionIdsToStages', 'an object with 2 keys', v2s);
    const stageLists = Object.values(v2s);
    const curIdx = stageLists.findIndex((s) => Array.isArray(s) && s.includes('AWSCURRENT'));
    const prevIdx = stageLists.findIndex((s) => Array.isArray(s) && s.includes('AWSPREVIOUS'));
    expect(curIdx >= 0 && prevIdx >= 0 && curIdx !== prevIdx, 'VersionIdsToStages',
      'one version with AWSCURRENT and another with AWSPREVIOUS', v2s);
    expect(r.LastChangedDate instanceof Date && !Number.isNaN(r.LastChangedDate.getTime()),
      'LastChangedDate', 'a Date', r.LastChangedDate);
  });

  await step('f ListSecrets paginated', async () => {
    for (const n of [nameTwo, nameThree]) {
      await client.send(new CreateSecretCommand({ Name: n, SecretString: 'x' }));
      created.add(n);
    }
    const seen = [];
    let pages = 0;
    const paginator = paginateListSecrets(
      { client, pageSize: 1 },
      { Filters: [{ Key: 'name', Values: [prefix] }] },
    );
    for await (const page of paginator) {
      pages += 1;
      if (pages > 50) fail('paginator: more than 50 pages for 3 secrets (NextToken loop?)');
      for (const s of page.SecretList ?? []) seen.push(s.Name);
    }
    const got = [...seen].sort();
    const want = [...allNames].sort();
    expect(got.length === want.length && got.every((n, i) => n === want[i]),
      'listed names', fmt(want), got);
    expect(pages >= 2, 'pages fetched', 'at least 2', pages);
  });

  await step('g TagResource/UntagResource', async () => {
    await client.send(new TagResourceCommand({ SecretId: nameOne, Tags: [{ Key: 'env', Value: 'test' }] }));
    await client.send(new UntagResourceCommand({ SecretId: nameOne, TagKeys: ['team'] }));
    const r = await client.send(new DescribeSecretCommand({ SecretId: nameOne }));
    expect(Array.isArray(r.Tags) && r.Tags.length === 1 && r.Tags[0].Key === 'env' && r.Tags[0].Value === 'test',
      'Tags', '[{"Key":"env","Value":"test"}]', r.Tags);
  });

  await step('h GetRandomPassword', async () => {
    const r = await client.send(new GetRandomPasswordCommand({ PasswordLength: 24, ExcludePunctuation: true }));
    const p = r.RandomPassword;
    expect(typeof p === 'string' && p.length === 24, 'RandomPassword length', 24, typeof p === 'string' ? p.length : p);
    expect(/^[A-Za-z0-9]+$/.test(p), 'RandomPassword charset', 'only [A-Za-z0-9]', p);
  });

  await step('i GetSecretValue missing secret', async () => {
    const e = await expectThrow('GetSecretValue on a missing secret', () =>
      client.send(new GetSecretValueCommand({ SecretId: `${prefix}/does-not-exist` })));
    expect(errName(e) === 'ResourceNotFoundException', 'error name', 'ResourceNotFoundException', errSummary(e));
    expect(e.$metadata?.httpStatusCode === 400, '$metadata.httpStatusCode', 400, e.$metadata?.httpStatusCode);
    expect(typeof e.$metadata?.requestId === 'string' && e.$metadata.requestId.length > 0,
      '$metadata.requestId', 'a non-empty string', e.$metadata?.requestId);
    expect(e instanceof ResourceNotFoundException, 'error class', 'instanceof ResourceNotFoundException',
      e?.constructor?.name);
  });

  await step('j CreateSecret duplicate', async () => {
    const e = await expectThrow('CreateSecret with an existing name', () =>
      client.send(new CreateSecretCommand({ Name: nameOne, SecretString: 'dup' })));
    expect(errName(e) === 'ResourceExistsException', 'error name', 'ResourceExistsException', errSummary(e));
  });

  await step('k DeleteSecret force', async () => {
    for (const n of allNames) {
      const r = await client.send(new DeleteSecretCommand({ SecretId: n, ForceDeleteWithoutRecovery: true }));
      created.delete(n);
      expect(r.DeletionDate instanceof Date && !Number.isNaN(r.DeletionDate.getTime()),
        `DeletionDate for ${n}`, 'a Date', r.DeletionDate);
    }
  });

  await step('l wrong secret key', async () => {
    const bad = makeClient({ accessKeyId, secretAccessKey: `${secretAccessKey}-wrong` });
    const e = await expectThrow('GetSecretValue signed with a wrong secret key', () =>
      bad.send(new GetSecretValueCommand({ SecretId: nameOne })));
    const n = errName(e);
    expect(n === 'InvalidSignatureException' || n === 'SignatureDoesNotMatch', 'error name',
      'InvalidSignatureException or SignatureDoesNotMatch', errSummary(e));
    const st = e.$metadata?.httpStatusCode;
    expect(st === 400 || st === 403, '$metadata.httpStatusCode', '400 or 403', st);
    console.log(`sdk_check: wrong secret key rejected as ${n} (HTTP ${st})`);
  });

  await step('m unknown access key id', async () => {
    const bad = makeClient({ accessKeyId: 'AKIAUNKNOWNUNKNOWN00', secretAccessKey });
    const e = await expectThrow('GetSecretValue signed with an unknown access key id', () =>
      bad.send(new GetSecretValueCommand({ SecretId: nameOne })));
    expect(errName(e) === 'UnrecognizedClientException', 'error name', 'UnrecognizedClientException', errSummary(e));
  });

  console.log(`sdk_check: OK ${stepsDone} steps`);
}

// Best effort: remove secrets this run created, so a failed run leaves no litter.
async function cleanup() {
  if (created.size === 0) return;
  const endpoint = process.env.COFFER_AWS_ENDPOINT;
  const client = new SecretsManagerClient({
    endpoint,
    region: process.env.AWS_REGION,
    credentials: {
      accessKeyId: process.env.AWS_ACCESS_KEY_ID,
      secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY,
    },
    maxAttempts: 1,
    requestHandler: { connectionTimeout: 5000, requestTimeout: 10000, throwOnRequestTimeout: true },
  });
  for (const n of created) {
    try {
      await client.send(new DeleteSecretCommand({ SecretId: n, ForceDeleteWithoutRecovery: true }));
    } catch (e) {
      console.error(`sdk_check: cleanup of ${n} failed: ${errSummary(e)}`);
    }
  }
}

try {
  await main();
  process.exit(0);
} catch (e) {
  if (e instanceof CheckFailure) {
    console.error(`sdk_check: FAIL at step ${currentStep}: ${e.message}`);
  } else {
    console.error(`sdk_check: FAIL at step ${currentStep}: unexpected error ${errSummary(e)}`);
    const cause = e?.cause ?? (e?.code && e.code !== e.name ? e.code : undefined);
    if (cause) console.error(`sdk_check:   cause: ${cause?.message ?? cause}`);
  }
  await cleanup();
  process.exit(1);
}
