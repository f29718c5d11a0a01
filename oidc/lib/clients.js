// The committed registry of the provider's clients and of the API's resource (oidc/clients.json).
import * as fs from 'node:fs';

export const CLIENTS_FILE = new URL('../clients.json', import.meta.url);

export function loadClients(file = CLIENTS_FILE) {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}
