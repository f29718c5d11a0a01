// Demo citizen accounts. The provider knows a login, a password hash and a random subject per account; only the
// subjects file (for the vault) links a subject to a citizen id, so no token ever carries the citizen id.
import * as crypto from 'node:crypto';

import {
  FILES, SUBJECTS_FORMAT, SUBJECTS_VERSION, StateError, randomToken, readJson,
} from './state.js';

const SCRYPT = { N: 16384, r: 8, p: 1 };
const KEY_LENGTH = 32;

export function hashPassword(password) {
  const salt = crypto.randomBytes(16);
  const hash = crypto.scryptSync(password, salt, KEY_LENGTH, SCRYPT);
  return `scrypt$${salt.toString('base64url')}$${hash.toString('base64url')}`;
}

function passwordMatches(password, stored) {
  const [scheme, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64url');
  const actual = crypto.scryptSync(password, Buffer.from(salt, 'base64url'), expected.length, SCRYPT);
  return crypto.timingSafeEqual(actual, expected);
}

let dummyHash;

export function parseCitizens(text) {
  const ids = String(text ?? '').split(',').map((part) => part.trim()).filter(Boolean);
  if (ids.length === 0 || ids.some((id) => !/^\d+$/.test(id))) {
    throw new StateError('--citizens must be a comma-separated list of citizen ids (e.g. 17,42,99), '
      + `got "${text ?? ''}"`);
  }
  if (new Set(ids).size !== ids.length) throw new StateError('--citizens lists a citizen id twice');
  return ids.map(Number);
}

// The three files of a fresh set of demo accounts: the provider's, the vault's link and the demo's logins.
export function createAccounts(citizenIds) {
  const accounts = [];
  const subjects = [];
  const logins = [];
  citizenIds.forEach((citizenId, index) => {
    const subject = randomToken(16);
    const login = `burger${index + 1}`;
    const password = randomToken(9);
    accounts.push({ sub: subject, login, password: hashPassword(password) });
    subjects.push({ subject, citizen_id: citizenId });
    logins.push({ login, password, subject });
  });
  return {
    accounts: { accounts },
    subjects: { format: SUBJECTS_FORMAT, version: SUBJECTS_VERSION, subjects },
    logins: { logins },
  };
}

export class Accounts {
  constructor(records) {
    this.bySubject = new Map(records.map((record) => [record.sub, record]));
    this.byLogin = new Map(records.map((record) => [record.login, record]));
  }

  static load(dir) {
    const { accounts } = readJson(dir, FILES.accounts);
    if (!Array.isArray(accounts) || accounts.some((record) => !record.sub || !record.login || !record.password)) {
      throw new StateError(`${FILES.accounts} in ${dir} must hold {"accounts": [{"sub", "login", "password"}, ...]}`);
    }
    return new Accounts(accounts);
  }

  // The subject of a login whose password matches, else undefined (the same work either way).
  authenticate(login, password) {
    const record = this.byLogin.get(login);
    dummyHash ??= hashPassword(randomToken(9));
    const matches = passwordMatches(String(password ?? ''), record?.password ?? dummyHash);
    return record && matches ? record.sub : undefined;
  }

  find(subject) {
    const record = this.bySubject.get(subject);
    if (!record) return undefined;
    return {
      accountId: record.sub,
      async claims() {
        return { sub: record.sub };
      },
    };
  }
}
