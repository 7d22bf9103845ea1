// Drives Debian's chromium (headless, through the DevTools protocol with puppeteer-core) for
// tests/e2e/statuspage.sh. Usage: node driver.mjs URL ARTIFACT_DIR. Opens URL (the status
// page, signing in with ?token=), then answers commands read line by line on stdin, one
// answer line each ("ok ..." or "fail ..."):
//   wait MS EXPR     polls EXPR (JavaScript, evaluated in the page) until truthy, MS at most
//   eval EXPR        prints JSON.stringify of EXPR's value
//   shot NAME        a full-page screenshot ARTIFACT_DIR/NAME.png
//   viewport W H     resizes the page (a phone: 390 844)
//   axe              runs axe-core in the page: "ok N" with N serious or critical violations,
//                    all violations written to ARTIFACT_DIR/axe.json
//   tab N            presses Tab N times; prints the focused element's tag and text
//   reload           reloads the page
//   quit
import { createRequire } from 'node:module';
import { readFileSync, writeFileSync } from 'node:fs';
import readline from 'node:readline';
import puppeteer from 'puppeteer-core';

const require = createRequire(import.meta.url);
const [url, artifacts] = process.argv.slice(2);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-dev-shm-usage'],
});
const page = await browser.newPage();
const consoleLines = [];
page.on('console', (m) => consoleLines.push(m.type() + ': ' + m.text()));
page.on('pageerror', (e) => consoleLines.push('pageerror: ' + e.message));
await page.setViewport({ width: 1280, height: 900 });
await page.goto(url, { waitUntil: 'domcontentloaded' });

const say = (line) => process.stdout.write(line.replace(/\n/g, ' ') + '\n');

async function waitFor(ms, expr) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      last = await page.evaluate(expr);
      if (last) return say('ok');
    } catch (e) {
      last = 'error: ' + e.message;
    }
    if (Date.now() > deadline) {
      const text = await page.evaluate('document.body ? document.body.innerText : ""').catch(() => '');
      return say('fail ' + JSON.stringify(last) + ' page: ' + text.slice(0, 1500) + ' console: ' + consoleLines.slice(-5).join(' | '));
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function axe() {
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () => await window.axe.run(document, { resultTypes: ['violations'] }));
  writeFileSync(artifacts + '/axe.json', JSON.stringify(result.violations, null, 2));
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  say('ok ' + bad.length + ' ' + bad.map((v) => v.id + ':' + v.nodes.length).join(','));
}

const rl = readline.createInterface({ input: process.stdin });
for await (const line of rl) {
  const [cmd, ...rest] = line.split(' ');
  try {
    if (cmd === 'wait') await waitFor(Number(rest[0]), rest.slice(1).join(' '));
    else if (cmd === 'eval') say('ok ' + JSON.stringify(await page.evaluate(rest.join(' '))));
    else if (cmd === 'shot') {
      await page.screenshot({ path: artifacts + '/' + rest[0] + '.png', fullPage: true });
      say('ok');
    } else if (cmd === 'viewport') {
      await page.setViewport({ width: Number(rest[0]), height: Number(rest[1]), isMobile: true, hasTouch: true });
      say('ok');
    } else if (cmd === 'axe') await axe();
    else if (cmd === 'tab') {
      for (let i = 0; i < Number(rest[0]); ++i) await page.keyboard.press('Tab');
      say('ok ' + (await page.evaluate('document.activeElement.tagName + " " + (document.activeElement.textContent || "").trim().slice(0, 60)')));
    } else if (cmd === 'reload') {
      await page.reload({ waitUntil: 'domcontentloaded' });
      say('ok');
    } else if (cmd === 'quit') break;
    else say('fail unknown command ' + cmd);
  } catch (e) {
    say('fail ' + e.message);
  }
}
rl.close();
await browser.close();
process.exit(0);  // stdin (the test's pipe) would keep node alive
