// The oidc-provider configuration: the site (public client, authorisation code + PKCE S256), the partners
// (client credentials, each with its own secret), one resource server (the loopbaan API) that gets JWT access
// tokens signed with the keys of the JWKS file, and the demo accounts.
import { errors } from 'oidc-provider';

import { Accounts } from './accounts.js';
import { loadClients } from './clients.js';
import { ALGORITHM, loadJwks } from './keys.js';
import { logoutSource, postLogoutSuccessSource, renderError } from './pages.js';
import { FILES, StateError, readJson } from './state.js';

function partnerClients(clients, dir) {
  const { partners: secrets } = readJson(dir, FILES.partners);
  const secretOf = new Map(secrets.map((partner) => [partner.client_id, partner.client_secret]));
  return clients.partners.map((partner) => {
    const secret = secretOf.get(partner.client_id);
    if (!secret) {
      throw new StateError(`${FILES.partners} in ${dir} has no secret for ${partner.client_id}: run init again`);
    }
    return {
      client_id: partner.client_id,
      client_secret: secret,
      client_name: partner.client_name,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: partner.scope,
    };
  });
}

function siteClient(site, siteUrls) {
  return {
    client_id: site.client_id,
    client_name: site.client_name,
    application_type: 'web',
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code'],
    response_types: ['code'],
    redirect_uris: siteUrls,
    post_logout_redirect_uris: siteUrls,
    scope: site.scope,
  };
}

// Everything a provider instance needs, read afresh from the state folder (so a reload picks up new keys).
export function buildConfiguration({ dir, siteUrls, cookieKeys, clients = loadClients() }) {
  const accounts = Accounts.load(dir);
  const { resource, site } = clients;
  const resourceScopes = new Set(Object.keys(resource.scopes));
  const siteOrigins = new Set(siteUrls.map((url) => new URL(url).origin));

  const configuration = {
    clients: [siteClient(site, siteUrls), ...partnerClients(clients, dir)],
    jwks: loadJwks(dir),
    findAccount: (ctx, sub) => accounts.find(sub),
    claims: { openid: ['sub'] },
    scopes: ['openid', ...resourceScopes],
    responseTypes: ['code'],
    clientAuthMethods: ['none', 'client_secret_basic'],
    clientDefaults: { id_token_signed_response_alg: ALGORITHM },
    enabledJWA: { idTokenSigningAlgValues: [ALGORITHM] },
    cookies: { keys: cookieKeys },
    pkce: { required: () => true },
    // Only the site, a public client, calls the token endpoint from a browser, and only from its own origin.
    clientBasedCORS: (ctx, origin, client) => client.clientId === site.client_id && siteOrigins.has(origin),
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    renderError,
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      userinfo: { enabled: false },
      rpInitiatedLogout: { enabled: true, logoutSource, postLogoutSuccessSource },
      resourceIndicators: {
        enabled: true,
        defaultResource: (ctx, client, oneOf) => oneOf ?? resource.indicator,
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, indicator, client) => {
          if (indicator !== resource.indicator) throw new errors.InvalidTarget();
          const scope = (client.scope ?? '').split(' ').filter((name) => resourceScopes.has(name)).join(' ');
          return {
            scope,
            audience: resource.indicator,
            accessTokenTTL: resource.access_token_ttl_s,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: ALGORITHM } },
          };
        },
      },
    },
    ttl: {
      AccessToken: resource.access_token_ttl_s,
      AuthorizationCode: 60,
      ClientCredentials: resource.access_token_ttl_s,
      IdToken: 3600,
      Interaction: 600,
      Session: 8 * 3600,
      Grant: 8 * 3600,
    },
  };
  return { configuration, accounts, firstParty: new Set([site.client_id]) };
}
