// The provider's own pages (sign-in, sign-out, error): plain HTML with no outside resources, in Dutch.
export const HEADERS = {
  'Cache-Control': 'no-store',
  'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
  'Referrer-Policy': 'no-referrer',
};

export const escape = (text) => String(text).replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);

function layout(title, body) {
  return `<!doctype html>
<html lang="nl">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>${escape(title)} — demo-aanmeldingsdienst</title>
  <style>
    body { font-family: system-ui, sans-serif; max-width: 26rem; margin: 3rem auto; padding: 0 1rem; color: #1a1a1a; }
    label { display: block; margin-top: 1rem; font-weight: 600; }
    input { width: 100%; box-sizing: border-box; padding: .5rem; font-size: 1rem; border: 1px solid #555; }
    button { margin: 1.25rem .5rem 0 0; padding: .6rem 1.2rem; font-size: 1rem; border: 0;
             background: #0b4f8a; color: #fff; }
    button.secondary { background: #e6e6e6; color: #1a1a1a; }
    .error { color: #a4000f; font-weight: 600; }
    .note { color: #444; font-size: .9rem; }
  </style>
</head>
<body>
  <main>
    <h1>${escape(title)}</h1>
${body}
  </main>
</body>
</html>`;
}

export function loginPage({ uid, clientName, login = '', error }) {
  return layout('Aanmelden', `
    <p>Je meldt je aan bij <strong>${escape(clientName)}</strong>.</p>
    <p class="note">Demo-aanmeldingsdienst voor testburgers, geen echte itsme of ACM/IDM.
      <span lang="en">(Demo sign-in service for test citizens.)</span></p>
    ${error ? `<p class="error" role="alert">${escape(error)}</p>` : ''}
    <form method="post" action="/interaction/${escape(uid)}/login" autocomplete="off">
      <label for="login">Gebruikersnaam <span lang="en">(user name)</span></label>
      <input id="login" name="login" required value="${escape(login)}" autofocus spellcheck="false">
      <label for="password">Wachtwoord <span lang="en">(password)</span></label>
      <input id="password" name="password" type="password" required>
      <button type="submit">Aanmelden</button>
    </form>
    <p><a href="/interaction/${escape(uid)}/abort">Annuleren</a></p>`);
}

export async function logoutSource(ctx, form) {
  ctx.set(HEADERS);
  ctx.type = 'html';
  ctx.body = layout('Afmelden', `
    <p>Wil je je afmelden bij de demo-aanmeldingsdienst?</p>
    ${form}
    <button autofocus type="submit" form="op.logoutForm" value="yes" name="logout">Ja, afmelden</button>
    <button class="secondary" type="submit" form="op.logoutForm">Nee, aangemeld blijven</button>`);
}

export async function postLogoutSuccessSource(ctx) {
  ctx.set(HEADERS);
  ctx.type = 'html';
  ctx.body = layout('Afgemeld', '<p>Je bent afgemeld. Je kunt dit venster sluiten.</p>');
}

export async function renderError(ctx, out) {
  ctx.set(HEADERS);
  ctx.type = 'html';
  ctx.body = layout('Aanmelden lukt niet', `
    <p class="error" role="alert">${escape(out.error_description ?? out.error)}</p>
    <p>Ga terug naar de site en probeer opnieuw. <span lang="en">(Go back to the site and try again.)</span></p>`);
}
