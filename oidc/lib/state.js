// The provider's state folder: demo accounts, the subjects link for the vault, partner secrets and signing keys.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const FILES = {
  accounts: 'accounts.json',
  subjects: 'subjects.json',
  logins: 'demo-logins.json',
  partners: 'partners.json',
  jwks: 'jwks.json',
};
export const SUBJECTS_FORMAT = 'loopbaan-oidc-subjects';
export const SUBJECTS_VERSION = 1;

export class StateError extends Error {}

export function readJson(dir, name) {
  const file = path.join(dir, name);
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if (error.code === 'ENOENT') {
      throw new StateError(`${file} is missing: run `
        + `\`node oidc/provider.js init --dir ${dir} --citizens ID,...\` first`);
    }
    throw new StateError(`${file} cannot be read (${error.code})`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new StateError(`${file} is not valid JSON; remove the folder ${dir} and run init again`);
  }
}

// Written beside the target and renamed over it, owner-only, so a reader never sees half a file.
export function writeJson(dir, name, value) {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, name);
  const partial = path.join(dir, `.${name}.${process.pid}.partial`);
  fs.writeFileSync(partial, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
  fs.renameSync(partial, file);
}

export function exists(dir, name) {
  return fs.existsSync(path.join(dir, name));
}

export function randomToken(bytes) {
  return crypto.randomBytes(bytes).toString('base64url');
}
