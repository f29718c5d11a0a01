// The sign-in page of the demo provider (a stand-in for itsme or the Flemish ACM/IDM): a login form for the demo
// citizens, and consent given on the citizen's behalf for first-party clients only (the service's own site).
import { HEADERS, loginPage } from './pages.js';

const ROUTE = /^\/interaction\/([\w-]+)(\/login|\/abort)?$/;
const MAX_BODY = 8 * 1024;

async function readForm(req) {
  let size = 0;
  const chunks = [];
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY) return undefined;
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function grantAll(grant, details) {
  if (details.missingOIDCScope) grant.addOIDCScope(details.missingOIDCScope.join(' '));
  if (details.missingOIDCClaims) grant.addOIDCClaims(details.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(details.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
}

export function interactions({ accounts, firstParty }) {
  return async function interactionRoutes(ctx, next) {
    const match = ROUTE.exec(ctx.path);
    if (!match) return next();
    const [, , action] = match;
    const provider = ctx.app;
    ctx.set(HEADERS);
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    const { uid, prompt, params, session } = details;
    const client = await provider.Client.find(params.client_id);
    const clientName = client?.clientName ?? params.client_id;

    if (action === '/abort') {
      return provider.interactionFinished(ctx.req, ctx.res, {
        error: 'access_denied', error_description: 'the citizen cancelled the sign-in',
      }, { mergeWithLastSubmission: false });
    }

    if (prompt.name === 'consent') {
      if (!firstParty.has(params.client_id)) {
        return provider.interactionFinished(ctx.req, ctx.res, {
          error: 'access_denied', error_description: 'this provider gives consent for its first-party site only',
        }, { mergeWithLastSubmission: false });
      }
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
      grantAll(grant, prompt.details);
      return provider.interactionFinished(ctx.req, ctx.res, { consent: { grantId: await grant.save() } }, {
        mergeWithLastSubmission: true,
      });
    }

    if (prompt.name !== 'login') ctx.throw(501, `the interaction "${prompt.name}" is not supported here`);

    if (action === '/login' && ctx.method === 'POST') {
      const form = await readForm(ctx.req);
      if (!form) ctx.throw(413, 'the sign-in form is too large');
      const login = form.get('login') ?? '';
      const subject = accounts.authenticate(login, form.get('password'));
      if (subject) {
        return provider.interactionFinished(ctx.req, ctx.res, { login: { accountId: subject, remember: false } }, {
          mergeWithLastSubmission: false,
        });
      }
      ctx.status = 401;
      ctx.type = 'html';
      ctx.body = loginPage({ uid, clientName, login, error: 'Onbekende gebruikersnaam of fout wachtwoord.' });
      return undefined;
    }

    ctx.type = 'html';
    ctx.body = loginPage({ uid, clientName, login: params.login_hint ?? '' });
    return undefined;
  };
}
