/**
 * The technicians' page in a real headless Chromium (Debian's package, driven by playwright-core)
 * against a real gateway with a simulated fleet: offline loading, login, live updates, the
 * devices table, actions, a diagnostics download, and screenshots in test-artifacts/.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { chromium, type Browser, type Page } from 'playwright-core'
import { GatewayProcess, ROOT, runCli } from './harness/gateway.js'
import { freePort } from './harness/ports.js'
import { startSim } from './harness/sim.js'

const CHROMIUM = '/usr/bin/chromium'
const ARTIFACTS = join(ROOT, 'test-artifacts')
const PASSWORD = 'technician-on-site-42'
const DEVICES = 6

async function textOf(page: Page, selector: string): Promise<string> {
  return (await page.locator(selector).textContent()) ?? ''
}

test('the status page works offline in Chromium: login, live figures, devices, actions, diagnostics', async t => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} missing: run scripts/install-system-deps.sh (Debian package chromium)`)
  mkdirSync(ARTIFACTS, { recursive: true })
  const hash = (await runCli(['hash-password'], { input: PASSWORD + '\n' })).stdout.trim()
  // An uplink that refuses connections: the forwarder reports it down, and pause/resume act on it.
  const deadKafka = `127.0.0.1:${await freePort()}`
  const gw = await GatewayProcess.start({
    statusPublic: false,
    args: [
      '--status-password-hash',
      hash,
      '--status-push-interval-ms',
      '500',
      '--kafka-brokers',
      deadKafka,
      '--kafka-request-timeout-ms',
      '1000'
    ]
  })
  const sim = startSim(['--url', gw.url, '--devices', String(DEVICES), '--rate', '4', '--duration', '60'])
  let browser: Browser | undefined
  const requests: string[] = []
  const blocked: string[] = []
  try {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync'
      ]
    })
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true })
    // Record every request the page makes; anything not for this gateway is stopped and counted.
    await context.route('**/*', async route => {
      const url = new URL(route.request().url())
      requests.push(url.href)
      if (url.hostname !== '127.0.0.1' || url.port !== String(gw.httpPort)) {
        blocked.push(url.href)
        await route.abort()
      } else {
        await route.continue()
      }
    })
    const page = await context.newPage()
    const errors: string[] = []
    page.on('pageerror', e => errors.push(e.message))
    let navigations = 0
    page.on('framenavigated', f => {
      if (f === page.mainFrame()) navigations++
    })

    await page.goto(gw.http + '/')

    await t.test('the page asks for the technician password; a wrong one is refused', async () => {
      await page.locator('#login').waitFor({ state: 'visible' })
      assert.equal(await page.locator('#dash').isVisible(), false, 'no data before login')
      await page.screenshot({ path: join(ARTIFACTS, 'status-login.png') })
      await page.fill('#password', 'not-the-password')
      await page.click('#btn-login')
      await page.locator('#login-error').waitFor({ state: 'visible' })
      assert.match(await textOf(page, '#login-error'), /Wrong password/)
      assert.equal(await page.locator('#dash').isVisible(), false)
    })

    await t.test('the right password opens the live view', async () => {
      await page.fill('#password', PASSWORD)
      await page.click('#btn-login')
      await page.locator('#dash').waitFor({ state: 'visible' })
      await page.locator('#live.on').waitFor({ timeout: 5_000 })
      assert.equal(await page.locator('#login').isVisible(), false)
      assert.equal(await textOf(page, '#gw-id'), 'test-gw')
    })

    await t.test('the devices table lists the simulated devices', async () => {
      await page.waitForFunction(n => document.querySelectorAll('#devices tbody tr').length === n, DEVICES, {
        timeout: 10_000
      })
      const ids = await page
        .locator('#devices tbody tr')
        .evaluateAll(rows => rows.map(r => (r as HTMLElement).dataset.id))
      assert.deepEqual(
        ids,
        Array.from({ length: DEVICES }, (_, i) => `sim-${i}`)
      )
      await page.waitForFunction(() =>
        [...document.querySelectorAll('#devices tbody tr td:nth-child(2)')].every(td => td.textContent === 'online')
      )
      // Filter and sort, as a technician would.
      await page.fill('#device-filter', 'sim-3')
      assert.deepEqual(
        await page.locator('#devices tbody tr').evaluateAll(rows => rows.map(r => (r as HTMLElement).dataset.id)),
        ['sim-3']
      )
      await page.fill('#device-filter', '')
      await page.click('#devices th[data-key="id"]')
      assert.equal(await page.locator('#devices th[data-key="id"]').getAttribute('aria-sort'), 'descending')
      assert.equal(await page.locator('#devices tbody tr').first().getAttribute('data-id'), `sim-${DEVICES - 1}`)
      await page.click('#devices th[data-key="id"]')
      assert.equal(await page.locator('#devices tbody tr').first().getAttribute('data-id'), 'sim-0')
    })

    await t.test('figures change live, without a reload', async () => {
      const before = Number((await textOf(page, '#received')).replace(/,/g, ''))
      await page.waitForFunction(
        b => Number((document.getElementById('received')!.textContent ?? '').replace(/,/g, '')) > b,
        before,
        { timeout: 5_000 }
      )
      const status = await (await page.request.get(gw.http + '/api/status')).json()
      assert.ok(status.counters.received > before)
      assert.equal(navigations, 1, 'the page never reloaded')
    })

    await t.test('the uplink card shows the dead uplink, and pause/resume take effect', async () => {
      await page.waitForFunction(
        () => ['down', 'degraded'].includes(document.getElementById('uplink-state')!.textContent ?? ''),
        undefined,
        { timeout: 10_000 }
      )
      await page.click('#btn-pause')
      await page.waitForFunction(() => document.getElementById('uplink-state')!.textContent === 'paused', undefined, {
        timeout: 5_000
      })
      assert.match(await textOf(page, '#action-result'), /Forwarding paused/)
      assert.equal((await (await page.request.get(gw.http + '/api/status')).json()).uplink.state, 'paused')
      await page.locator('#btn-resume').waitFor({ state: 'visible' })
      assert.match(await textOf(page, '#verdict'), /paused/)
      await page.click('#btn-resume')
      await page.waitForFunction(() => document.getElementById('uplink-state')!.textContent !== 'paused', undefined, {
        timeout: 5_000
      })
      assert.match(await textOf(page, '#action-result'), /Forwarding resumed/)
    })

    await t.test('"Test uplink now" reports the failure honestly', async () => {
      await page.click('#btn-test')
      await page.waitForFunction(
        () => /Uplink test failed|Uplink answered/.test(document.getElementById('action-result')!.textContent ?? ''),
        undefined,
        { timeout: 15_000 }
      )
      assert.match(await textOf(page, '#action-result'), /Uplink test failed: \S+/)
    })

    await t.test('the diagnostics bundle downloads, without the password', async () => {
      const [download] = await Promise.all([page.waitForEvent('download'), page.click('#btn-diag')])
      assert.match(download.suggestedFilename(), /^holdfast-diagnostics-test-gw-.*\.json$/)
      const file = await download.path()
      const text = readFileSync(file, 'utf8')
      const bundle = JSON.parse(text)
      assert.equal(bundle.gatewayId, 'test-gw')
      assert.equal(bundle.config.settings.status.passwordHash, '[redacted]')
      assert.equal(bundle.status.devices.length, DEVICES)
      assert.ok(!text.includes(PASSWORD) && !text.includes(hash))
      await page.locator('#diag-result.ok').waitFor()
      assert.match(await textOf(page, '#diag-result'), /^Saved holdfast-diagnostics-test-gw-.*\.json \(\d/)
    })

    await t.test('the chart, host and warnings panels are filled', async () => {
      // Two recorded points (one every 5 s) plus the live one: a line, not a dot.
      await page.waitForFunction(
        () => (document.querySelector('#chart path.s.ingest')?.getAttribute('d') ?? '').split('L').length >= 3,
        undefined,
        { timeout: 15_000 }
      )
      assert.ok((await page.locator('#chart text', { hasText: 'now' }).count()) === 1)
      assert.match(await textOf(page, '#host-mem'), /% used/)
      assert.match(await textOf(page, '#host-disk'), /free of/)
      assert.match(await textOf(page, '#log'), /HF_WARN_ANONYMOUS/)
      assert.match(await textOf(page, '#verdict'), /\S/)
    })

    await t.test('readings dropped are named in the verdict by device, each a link to its view', async () => {
      // A payload over mqtt.maxPayloadBytes (256 KiB), refused and counted for the device of its topic.
      const bulky = await mqtt.connectAsync(gw.url, { clientId: 'bulky-sender', reconnectPeriod: 0 })
      try {
        await bulky.publishAsync('devices/bulky-1/telemetry', Buffer.alloc(280_000, 120), { qos: 0 })
      } finally {
        await bulky.endAsync(true).catch(() => {})
      }
      const item = page.locator('#verdict-list li', { hasText: 'readings dropped in the last minute' })
      await item.locator('a[href="#/devices/bulky-1"]').waitFor({ timeout: 20_000 })
      assert.match((await item.textContent()) ?? '', /payload over its size limit: 1\b.*by device: bulky-1/)
    })

    await t.test('screenshots for people to look at', async () => {
      await page.screenshot({ path: join(ARTIFACTS, 'status-page.png'), fullPage: true })
      await page.setViewportSize({ width: 390, height: 844 })
      await page.waitForTimeout(600)
      await page.screenshot({ path: join(ARTIFACTS, 'status-page-phone.png'), fullPage: true })
      assert.ok(existsSync(join(ARTIFACTS, 'status-page.png')))
    })

    await t.test('nothing left the machine and the page had no script errors', () => {
      assert.ok(requests.length >= 4, `requests seen: ${requests.length}`)
      assert.deepEqual(blocked, [], 'requests to other hosts')
      for (const r of requests) assert.equal(new URL(r).hostname, '127.0.0.1', r)
      assert.deepEqual(errors, [])
    })
  } finally {
    await browser?.close()
    sim.child.kill('SIGTERM')
    await sim.result.catch(() => {})
    await gw.stop()
  }
})

test('with --status-public the page shows data at once, and actions still need the technician login', async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} missing: run scripts/install-system-deps.sh (Debian package chromium)`)
  const hash = (await runCli(['hash-password'], { input: PASSWORD + '\n' })).stdout.trim()
  const gw = await GatewayProcess.start({
    statusPublic: true,
    args: ['--status-password-hash', hash, '--status-push-interval-ms', '300']
  })
  let browser: Browser | undefined
  try {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync'
      ]
    })
    const page = await browser.newPage({ viewport: { width: 390, height: 844 } })
    const errors: string[] = []
    page.on('pageerror', e => errors.push(e.message))
    await page.goto(gw.http + '/')
    await page.locator('#dash').waitFor({ state: 'visible' })
    await page.locator('#live.on').waitFor({ timeout: 5_000 })
    assert.equal(await textOf(page, '#who'), 'read-only view')
    assert.equal(await page.locator('#actions').isVisible(), false)
    assert.match(await textOf(page, '#actions-locked'), /Log in as technician/)
    assert.equal(await page.locator('#diag-form').isVisible(), false)
    await page.click('#btn-login-open')
    await page.fill('#password', PASSWORD)
    await page.press('#password', 'Enter')
    await page.locator('#btn-logout').waitFor({ state: 'visible' })
    assert.equal(await textOf(page, '#who'), 'technician')
    assert.equal(await page.locator('#login').isVisible(), false)
    assert.equal(await page.locator('#actions').isVisible(), true)
    assert.equal(await page.locator('#diag-form').isVisible(), true)
    await page.click('#btn-logout')
    await page.locator('#btn-login-open').waitFor({ state: 'visible' })
    assert.equal(await page.locator('#dash').isVisible(), true, 'the public view stays after logout')
    assert.deepEqual(errors, [])
  } finally {
    await browser?.close()
    await gw.stop()
  }
})
