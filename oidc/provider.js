#!/usr/bin/env node
// The local OpenID provider of the loopbaan demo and tests (oidc-provider). See docs/sign-in.md.
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import { parseArgs } from 'node:util';

import { createAccounts, parseCitizens } from './lib/accounts.js';
import { loadClients } from './lib/clients.js';
import { newSigningKey, retireKeys, rotateKeys } from './lib/keys.js';
import {
  FILES, StateError, exists, randomToken, readJson, writeJson,
} from './lib/state.js';

const READY = 'loopbaan-oidc ready';
const RELOADED = 'loopbaan-oidc reloaded';

const USAGE = `usage:
  node oidc/provider.js init --dir DIR --citizens ID,ID,...
      create the demo accounts (one per citizen id, each with a random subject), the subjects file for the
      vault, the partners' secrets and a signing key in DIR; a second run with the same citizens keeps them
  node oidc/provider.js serve --dir DIR --site-url URL [--site-url URL ...] [--port 0] [--host 127.0.0.1]
                              [--issuer URL]
      serve the provider (port 0: any free port); prints "${READY} <issuer>" once it answers;
      SIGHUP re-reads the keys and accounts of DIR without dropping sessions ("${RELOADED} <kids>")
  node oidc/provider.js rotate-keys --dir DIR
      add a new signing key first in DIR/jwks.json: it signs after the next start or SIGHUP, the older keys
      stay published so that tokens already issued stay valid
  node oidc/provider.js retire-keys --dir DIR
      remove every key but the newest from DIR/jwks.json (after the next start or SIGHUP, tokens they signed
      are refused as soon as a resource server fetches the JWKS again)`;

const OPTIONS = {
  dir: { type: 'string' },
  citizens: { type: 'string' },
  'site-url': { type: 'string', multiple: true },
  port: { type: 'string', default: '0' },
  host: { type: 'string', default: '127.0.0.1' },
  issuer: { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
};

class UsageError extends Error {}

function required(values, name) {
  if (!values[name]) throw new UsageError(`--${name} is required`);
  return values[name];
}

function init(values) {
  const dir = required(values, 'dir');
  const citizens = parseCitizens(required(values, 'citizens'));
  const clients = loadClients();
  if (exists(dir, FILES.accounts)) {
    const known = readJson(dir, FILES.subjects).subjects.map((link) => link.citizen_id);
    if (known.join(',') !== citizens.join(',')) {
      throw new StateError(`${dir} already holds demo accounts for citizens ${known.join(',')}; `
        + 'remove the folder to make accounts for other citizens (their old tokens stop working)');
    }
  } else {
    const { accounts, subjects, logins } = createAccounts(citizens);
    writeJson(dir, FILES.subjects, subjects);
    writeJson(dir, FILES.logins, logins);
    writeJson(dir, FILES.accounts, accounts);
  }
  const partners = exists(dir, FILES.partners) ? readJson(dir, FILES.partners).partners : [];
  const known = new Set(partners.map((partner) => partner.client_id));
  for (const { client_id: clientId } of clients.partners) {
    if (!known.has(clientId)) partners.push({ client_id: clientId, client_secret: randomToken(32) });
  }
  writeJson(dir, FILES.partners, { partners });
  if (!exists(dir, FILES.jwks)) writeJson(dir, FILES.jwks, { keys: [newSigningKey()] });
  const kids = readJson(dir, FILES.jwks).keys.map((key) => key.kid);
  console.log(`${dir}: ${citizens.length} demo citizens, ${partners.length} partners, signing keys ${kids.join(',')}`);
}

function rotate(values) {
  console.log(`added signing key ${rotateKeys(required(values, 'dir'))}`);
}

function retire(values) {
  const { kept, retired } = retireKeys(required(values, 'dir'));
  console.log(`kept signing key ${kept}; retired ${retired.join(',') || 'none'}`);
}

// oidc-provider is loaded only to serve, so that init and rotate-keys start quickly.
async function makeProvider({ issuer, dir, siteUrls, cookieKeys }) {
  const [{ Provider }, { buildConfiguration }, { interactions }] = await Promise.all([
    import('oidc-provider'), import('./lib/configuration.js'), import('./lib/interactions.js'),
  ]);
  const { configuration, accounts, firstParty } = buildConfiguration({ dir, siteUrls, cookieKeys });
  const provider = new Provider(issuer, configuration);
  provider.use(interactions({ accounts, firstParty }));
  return { provider, kids: configuration.jwks.keys.map((key) => key.kid) };
}

async function serve(values) {
  const dir = required(values, 'dir');
  const siteUrls = required(values, 'site-url');
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`--port must be 0-65535, got ${values.port}`);
  }
  for (const url of siteUrls) {
    if (!URL.canParse(url)) throw new UsageError(`--site-url must be an absolute URL, got ${url}`);
  }
  let handler = (req, res) => { res.statusCode = 503; res.end('starting'); };
  const server = http.createServer((req, res) => handler(req, res));
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, values.host, resolve);
  });
  const issuer = values.issuer ?? `http://${values.host}:${server.address().port}`;
  const cookieKeys = [crypto.randomBytes(32).toString('base64url')];
  const start = async () => {
    const { provider, kids } = await makeProvider({ issuer, dir, siteUrls, cookieKeys });
    handler = provider.callback();
    return kids;
  };
  await start();
  process.on('SIGHUP', () => {
    start().then(
      (kids) => console.log(`${RELOADED} ${kids.join(',')}`),
      (error) => console.error(`reload failed, the previous keys stay in use: ${error.message}`),
    );
  });
  const stop = () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  console.log(`${READY} ${issuer}`);
}

async function main(argv) {
  const [command, ...rest] = argv;
  const { values } = parseArgs({ args: rest, options: OPTIONS, strict: true });
  if (values.help || !command || command === 'help') {
    console.log(USAGE);
    return;
  }
  const commands = {
    init, serve, 'rotate-keys': rotate, 'retire-keys': retire,
  };
  if (!commands[command]) throw new UsageError(`unknown command "${command}"`);
  await commands[command](values);
}

main(process.argv.slice(2)).catch((error) => {
  if (error instanceof UsageError || error.code?.startsWith?.('ERR_PARSE_ARGS')) {
    console.error(`${error.message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (error.code === 'EADDRINUSE' || error.code === 'EACCES') {
    console.error(`cannot listen on ${error.address}:${error.port} (${error.code}): `
      + 'choose another --port, or 0 for any free port');
    process.exit(1);
  }
  if (error instanceof StateError) {
    console.error(error.message);
    process.exit(1);
  }
  throw error;
});
