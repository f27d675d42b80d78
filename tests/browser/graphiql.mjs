// GraphiQL as a newcomer meets it, in a real headless Chromium: the page loads with no
// credential and the schema's docs appear (anonymous introspection), signing in through the
// page's own form works, a query returns data, and a subscription started in GraphiQL
// receives an event over the WebSocket.
//
//   ORRERY_URL=http://127.0.0.1:8080 ORRERY_EMAIL=… ORRERY_PASSWORD=… CHROMIUM=/usr/bin/chromium \
//     node tests/browser/graphiql.mjs
import { chromium } from 'playwright-core';

const base = process.env.ORRERY_URL;
const email = process.env.ORRERY_EMAIL;
const password = process.env.ORRERY_PASSWORD;
const step = (what) => console.log(`graphiql: ${what}`);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu'],
});
const failures = [];
try {
  const page = await browser.newPage();
  page.on('console', (message) => {
    if (message.type() === 'error') failures.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => failures.push(`page error: ${error.message}`));

  await page.goto(`${base}/graphiql`);
  await page.waitForSelector('.graphiql-query-editor .CodeMirror', { timeout: 30000 });
  step('page loaded');

  // The docs explorer lists the root types once the anonymous introspection succeeded.
  await page.click('button[aria-label="Show Documentation Explorer"]');
  await page.waitForSelector('.graphiql-doc-explorer >> text=Query', { timeout: 15000 });
  step('schema docs appear');

  await page.fill('#credential input[name=email]', email);
  await page.fill('#credential input[name=password]', password);
  await page.click('#credential button[name=signin]');
  await page.waitForFunction(
    () => document.getElementById('credential-state').textContent.startsWith('Signed in'),
    null,
    { timeout: 15000 },
  );
  step('signed in with the page form');

  const run = async (query) => {
    await page.evaluate((q) => {
      document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.setValue(q);
    }, query);
    // GraphiQL parses the editor's text after a short debounce; running before that would
    // send the new text with the old parse (and a subscription over HTTP).
    await page.waitForTimeout(1000);
    await page.click('.graphiql-execute-button');
  };
  const result = () =>
    page.evaluate(() => document.querySelector('.result-window .CodeMirror').CodeMirror.getValue());
  const waitForResult = async (text, what) => {
    try {
      await page.waitForFunction(
        (t) => document.querySelector('.result-window .CodeMirror').CodeMirror.getValue().includes(t),
        text,
        { timeout: 15000 },
      );
    } catch (error) {
      throw new Error(`${what}: expected ${text} in the result, got ${await result()}`);
    }
  };

  await run('{ viewer { email tier } }');
  await waitForResult(email, 'query');
  step('a query returns data');

  await run('subscription { accountEvents { type } }');
  // Give the subscription time to reach the server, then cause an event with the same
  // credential the page holds.
  const token = await page.evaluate(() => localStorage.getItem('orrery.graphiql.credential'));
  for (let attempt = 0; attempt < 10; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    await fetch(`${base}/lunaos/api-keys`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: `graphiql-${attempt}` }),
    }).then((response) => (response.ok ? response : Promise.reject(new Error(`key: ${response.status}`))))
      .then((response) => response.json())
      .then((body) => fetch(`${base}/lunaos/api-keys/${body.data.id}`, {
        method: 'DELETE',
        headers: { Authorization: `Bearer ${token}` },
      }));
    if ((await result()).includes('"type": "API_KEY_')) break;
  }
  await waitForResult('"type": "API_KEY_', 'subscription');
  step('a subscription receives events over the WebSocket');
} catch (error) {
  failures.push(error.message);
} finally {
  await browser.close();
}
if (failures.length) {
  console.error(failures.join('\n'));
  process.exit(1);
}
console.log('graphiql: ok');
