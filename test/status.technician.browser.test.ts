/**
 * The technician's page on a laptop (1366x768) and a phone (390x844), in Debian's Chromium
 * (playwright-core) against a real gateway whose Kafka refuses connections, with a simulated
 * fleet: the outage clock across pause and resume, "Drain now" while down, the device view at
 * its own URL, the phone's device list, copying a device id while figures update, empty filter
 * states, a stale page when the gateway stops answering, and a clean stop afterwards.
 * Screenshots of the uplink-down page and the device view land in test-artifacts/.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { chromium, type Browser, type Page } from 'playwright-core'
import { GatewayProcess, ROOT, runCli } from './harness/gateway.js'
import { freePort } from './harness/ports.js'
import { startSim } from './harness/sim.js'

const CHROMIUM = '/usr/bin/chromium'
const ARTIFACTS = join(ROOT, 'test-artifacts')
const PASSWORD = 'technician-on-site-42'
const DEVICES = 8
const VIEWPORTS = [
  { name: 'laptop', width: 1366, height: 768 },
  { name: 'phone', width: 390, height: 844 }
] as const

const textOf = async (page: Page, selector: string): Promise<string> =>
  (await page.locator(selector).textContent()) ?? ''

/** Wait until the page has received `n` more live updates. */
async function updates(page: Page, n: number): Promise<void> {
  const start = await page.evaluate(() => document.getElementById('received')!.textContent)
  let seen = 0
  let last = start
  const deadline = Date.now() + 15_000
  while (seen < n && Date.now() < deadline) {
    await page.waitForTimeout(200)
    const now = await page.evaluate(() => document.getElementById('received')!.textContent)
    if (now !== last) {
      seen++
      last = now
    }
  }
  assert.ok(seen >= n, `only ${seen} live updates seen`)
}

test('the technician page tells the truth and the next step, on a laptop and a phone', async t => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} missing: run scripts/install-system-deps.sh (Debian package chromium)`)
  mkdirSync(ARTIFACTS, { recursive: true })
  const hash = (await runCli(['hash-password'], { input: `${PASSWORD}\n` })).stdout.trim()
  const deadPort = await freePort()
  const gw = await GatewayProcess.start({
    statusPublic: false,
    args: [
      '--status-password-hash',
      hash,
      '--status-push-interval-ms',
      '500',
      '--kafka-brokers',
      `127.0.0.1:${deadPort}`,
      '--kafka-request-timeout-ms',
      '1000'
    ]
  })
  const sim = startSim(['--url', gw.url, '--devices', String(DEVICES), '--rate', '2', '--duration', '300'])
  let browser: Browser | undefined
  try {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-sync']
    })
    for (const vp of VIEWPORTS) {
      const context = await browser.newContext({ viewport: { width: vp.width, height: vp.height } })
      const page = await context.newPage()
      const errors: string[] = []
      page.on('pageerror', e => errors.push(e.message))
      const encodings = new Map<string, string>()
      page.on('response', r => {
        const path = new URL(r.url()).pathname
        if (path === '/' || path.startsWith('/assets/'))
          encodings.set(path, r.headers()['content-encoding'] ?? 'identity')
      })

      await t.test(`${vp.name}: the login screen names the gateway; footer links wait for the login`, async () => {
        await page.goto(`${gw.http}/`)
        await page.locator('#login').waitFor({ state: 'visible' })
        assert.equal(await textOf(page, '#login-gw-id'), 'test-gw')
        assert.equal(await page.locator('#foot-links').isVisible(), false, 'no links to 401 answers before login')
        assert.equal(await page.locator('h1').count(), 1)
        await page.fill('#password', PASSWORD)
        await page.click('#btn-login')
        await page.locator('#live.on').waitFor({ timeout: 10_000 })
        assert.equal(await page.locator('#foot-links').isVisible(), true)
        assert.match(await textOf(page, 'h1'), /Holdfast.*test-gw/)
        assert.ok(encodings.size >= 8, `assets loaded: ${[...encodings.keys()].join(' ')}`)
        for (const [path, enc] of encodings) assert.match(enc, /^(br|gzip)$/, `${path} sent ${enc}`)
      })

      await t.test(`${vp.name}: the dead uplink is explained in words, its raw error behind "details"`, async () => {
        await page.waitForFunction(() => document.getElementById('uplink-state')!.textContent === 'down', undefined, {
          timeout: 20_000
        })
        assert.match(await textOf(page, '#uplink-explain'), /Kafka cannot be reached: readings are kept/)
        const cause = await textOf(page, '#uplink-cause')
        assert.match(cause, new RegExp(`Kafka refused the connection at 127\\.0\\.0\\.1:${deadPort}: check`))
        assert.equal(await page.locator('#uplink-raw').isVisible(), false, 'raw error folded away')
        await page.click('#uplink-raw-box summary')
        assert.match(await textOf(page, '#uplink-raw'), /ECONNREFUSED/)
        await page.click('#uplink-raw-box summary')
        assert.match(await textOf(page, '#verdict'), /Uplink down for .*Kafka refused the connection/)
        assert.doesNotMatch(await textOf(page, '#verdict'), /ECONNREFUSED/, 'no jargon in the verdict')
        assert.match(await textOf(page, '#backlog-full'), /\d|not growing/)
        await page.locator('#backlog-then').waitFor({ state: 'visible', timeout: 10_000 })
        assert.match(await textOf(page, '#backlog-then'), /When full: .*(refused|drop-oldest)/)
        // The chart has a backlog series, and pointing at it shows the values there.
        await page.locator('#chart path.s.backlog').waitFor({ state: 'attached', timeout: 10_000 })
        assert.match((await page.locator('#chart').getAttribute('aria-label')) ?? '', /last (5|15|30) min/)
        await page.locator('#chart').scrollIntoViewIfNeeded()
        const chart = (await page.locator('#chart').boundingBox())!
        await page.mouse.move(chart.x + chart.width - 60, chart.y + chart.height / 2)
        await page.locator('#chart-tip').waitFor({ state: 'visible' })
        assert.match(await textOf(page, '#chart-tip'), /\d\d:\d\d:\d\d · ingest .* backlog [\d,]+/)
        await page.mouse.move(0, 0)
        // Holdfast's own share beside the host's, and the budget and priority figures.
        assert.match(await textOf(page, '#host-own'), /% CPU · .* memory/)
        assert.match(await textOf(page, '#budget-classes'), /telemetry \(priority 0\): sent normally/)
        assert.match(await textOf(page, '#budget-periods'), /No uplink budget set/)
        // The polite live region carries the verdict's headline and stays quiet while only figures change.
        assert.equal(await page.locator('#announce').getAttribute('aria-live'), 'polite')
        assert.match(await textOf(page, '#announce'), /Needs attention now: Uplink down/)
        await page.evaluate(() => {
          const w = window as unknown as { announced: number }
          w.announced = 0
          new MutationObserver(() => w.announced++).observe(document.getElementById('announce')!, {
            childList: true,
            characterData: true,
            subtree: true
          })
        })
        await updates(page, 8)
        // The outage clock ticks every second; the announcement changes only when what is wrong does.
        const announced = await page.evaluate(() => (window as unknown as { announced: number }).announced)
        assert.ok(announced < 3, `announced ${announced} times in 8 updates`)
        // The first screen shows the backlog on a phone too.
        const backlogTop = (await page.locator('#card-backlog').boundingBox())!.y
        if (vp.name === 'phone') assert.ok(backlogTop < 2 * vp.height, `backlog card starts at ${backlogTop}px`)
        await page.screenshot({ path: join(ARTIFACTS, `status-uplink-down-${vp.name}.png`), fullPage: true })
        if (vp.name === 'phone') {
          await page.evaluate(() => window.scrollTo(0, 0))
          await page.screenshot({ path: join(ARTIFACTS, 'status-uplink-down-phone-first-screen.png') })
        }
      })

      await t.test(`${vp.name}: pause and resume never hide or restart the outage clock`, async () => {
        const before = await (await page.request.get(`${gw.http}/api/status`)).json()
        const outageSince = before.uplink.outageSince as string
        assert.ok(outageSince !== null)
        const sinceText = (await textOf(page, '#uplink-outage')).match(/\d\d:\d\d:\d\d/)![0]
        await page.click('#btn-pause')
        await page.waitForFunction(() => document.getElementById('uplink-state')!.textContent === 'paused')
        assert.match(await textOf(page, '#action-text'), /Forwarding paused/)
        // Still red, still counting from the last delivery.
        await updates(page, 2)
        assert.match(await textOf(page, '#verdict-title'), /Needs attention now/)
        assert.match(await textOf(page, '#verdict'), /Uplink down for .*forwarding is also paused/)
        assert.match(await textOf(page, '#uplink-explain'), /paused forwarding.*also unreachable/)
        assert.ok((await textOf(page, '#uplink-outage')).includes(sinceText))
        await page.click('#btn-resume')
        await page.waitForFunction(() => document.getElementById('uplink-state')!.textContent === 'down')
        assert.match(await textOf(page, '#action-text'), /Forwarding resumed; the uplink is still down/)
        const after = await (await page.request.get(`${gw.http}/api/status`)).json()
        assert.equal(after.uplink.outageSince, outageSince, 'the outage still starts at the last delivery')
        assert.ok((await textOf(page, '#uplink-outage')).includes(sinceText))
        const outageS = (Date.now() - Date.parse(outageSince)) / 1000
        const m = /Uplink down for (\d+(?:\.\d+)?) (s|min)/.exec(await textOf(page, '#verdict'))!
        const shownS = Number(m[1]) * (m[2] === 'min' ? 60 : 1)
        assert.ok(shownS >= outageS - 90, `verdict says ${m[0]} for an outage of ${outageS} s`)
        // History: paused and resumed as such, never as "down".
        const hist = after.uplinkHistory as Array<{ state: string; reason: string | null }>
        assert.ok(hist.some(h => h.state === 'paused'))
        assert.ok(hist.some(h => h.state === 'resumed'))
        assert.ok(!hist.some(h => h.state === 'down' && /technician/.test(h.reason ?? '')))
        assert.ok(!hist.some(h => h.state === 'degraded' && /technician/.test(h.reason ?? '')))
        await page.click('#history-box summary')
        assert.match(await textOf(page, '#uplink-history'), /resumed.*resumed by technician/s)
      })

      await t.test(`${vp.name}: "Drain now" while the uplink is down says nothing was sent, and why`, async () => {
        await page.click('#btn-drain')
        await page.waitForFunction(() => !/Drain now…/.test(document.getElementById('action-text')!.textContent ?? ''))
        const msg = await textOf(page, '#action-text')
        assert.match(msg, /Nothing to send: uplink down since \d\d:\d\d:\d\d/)
        assert.match(msg, /Kafka refused the connection/)
        assert.doesNotMatch(msg, /Draining/)
        assert.match((await page.locator('#action-result').getAttribute('class')) ?? '', /fail/)
        await page.click('#btn-test')
        await page.waitForFunction(
          () => /Uplink test failed/.test(document.getElementById('action-text')!.textContent ?? ''),
          undefined,
          { timeout: 15_000 }
        )
        assert.match(await textOf(page, '#action-text'), /Kafka refused the connection at 127\.0\.0\.1:\d+: check/)
        await page.click('#action-raw-box summary')
        assert.match(await textOf(page, '#action-raw'), /ECONNREFUSED/)
        await page.click('#btn-pause')
        await page.locator('#btn-resume').waitFor({ state: 'visible' })
        await page.click('#btn-drain')
        await page.waitForFunction(() => /paused/.test(document.getElementById('action-text')!.textContent ?? ''))
        assert.match(await textOf(page, '#action-text'), /Nothing sent: forwarding is paused/)
        await page.click('#btn-resume')
        await page.locator('#btn-pause').waitFor({ state: 'visible' })
      })

      await t.test(
        `${vp.name}: the devices list fits the screen, keeps a selection, and says what a filter found`,
        async () => {
          await page.waitForFunction(n => document.querySelectorAll('#devices tbody tr').length === n, DEVICES, {
            timeout: 15_000
          })
          const width = await page.evaluate(() => document.documentElement.scrollWidth)
          assert.ok(width <= vp.width, `page is ${width}px wide in a ${vp.width}px viewport`)
          for (const box of await page
            .locator('#devices tbody td.id')
            .evaluateAll(cells =>
              cells.map(c => c.getBoundingClientRect().toJSON() as { left: number; right: number; width: number })
            )) {
            assert.ok(box.left >= 0 && box.right <= vp.width && box.width > 0, `id cell at ${JSON.stringify(box)}`)
          }
          // Select an id as a technician would, and keep it selected while figures update.
          await page.evaluate(() => {
            const a = document.querySelector('#devices tr[data-id="sim-1"] a')!
            const r = document.createRange()
            r.selectNodeContents(a)
            window.getSelection()!.removeAllRanges()
            window.getSelection()!.addRange(r)
          })
          await updates(page, 3)
          assert.equal(await page.evaluate(() => window.getSelection()!.toString()), 'sim-1')
          await page.evaluate(() => window.getSelection()!.removeAllRanges())
          // Empty states.
          await page.fill('#device-filter', 'no-such-device')
          await page.locator('#devices-empty').waitFor({ state: 'visible' })
          assert.match(await textOf(page, '#devices-empty'), /No device matches “no-such-device” — 8 devices in all/)
          await page.fill('#device-filter', '')
          await page.selectOption('#device-state', 'offline')
          assert.match(await textOf(page, '#devices-empty'), /No device is offline/)
          await page.selectOption('#device-state', 'all')
          assert.equal(await page.locator('#devices-empty').isVisible(), false)
          // Sorting: by the column header on a laptop, by a select on a phone (whose headers are hidden).
          const ids = async (): Promise<string[]> =>
            await page.locator('#devices tbody tr').evaluateAll(rows => rows.map(r => (r as HTMLElement).dataset.id!))
          if (vp.name === 'phone') {
            assert.equal(await page.locator('#devices thead').isVisible(), false)
            await page.selectOption('#device-sort', 'lastSeenS')
            await page.selectOption('#device-sort', 'id')
          } else {
            assert.equal(await page.locator('#device-sort').isVisible(), false)
            await page.click('#devices th[data-key="id"]')
            await page.click('#devices th[data-key="id"]')
          }
          assert.deepEqual(
            await ids(),
            Array.from({ length: DEVICES }, (_, n) => `sim-${n}`)
          )
        }
      )

      await t.test(`${vp.name}: a device has its own view, at its own URL`, async () => {
        await page.click('#devices tr[data-id="sim-3"] a')
        await page.waitForURL(/#\/devices\/sim-3$/)
        await page.locator('#view-device').waitFor({ state: 'visible' })
        assert.equal(await page.locator('#view-main').isVisible(), false)
        await page.waitForFunction(() => document.getElementById('dev-state')!.textContent === 'online')
        assert.equal(await textOf(page, '#device-id'), 'sim-3')
        assert.match(await textOf(page, '#dev-last-seen'), /^\d\d:\d\d:\d\d \(\d+ s ago\)$/)
        assert.match(await textOf(page, '#dev-sessions'), /client id \S+ · MQTT 3\.1\.1, no TLS · from 127\.0\.0\.1/)
        assert.match(await textOf(page, '#dev-buffered'), /readings · /)
        await page.waitForFunction(() => document.querySelectorAll('#dev-recent li code').length > 0)
        const recent = await textOf(page, '#dev-recent')
        assert.match(recent, /devices\/sim-3\/telemetry.* · received \d\d:\d\d:\d\d · event time \d\d:\d\d:\d\d/)
        assert.ok((await page.locator('#dev-recent pre.payload').count()) > 0, 'payloads for the technician')
        assert.match(await textOf(page, '#dev-problems'), /None since start/)
        const width = await page.evaluate(() => document.documentElement.scrollWidth)
        assert.ok(width <= vp.width, `device view is ${width}px wide`)
        await page.screenshot({ path: join(ARTIFACTS, `status-device-${vp.name}.png`), fullPage: true })
        // The URL alone opens it (a bookmark, a link in a message), and an unknown id says so.
        const other = await context.newPage()
        await other.goto(`${gw.http}/#/devices/sim-2`)
        await other.waitForFunction(() => document.getElementById('device-id')!.textContent === 'sim-2')
        await other.waitForFunction(() => document.getElementById('dev-state')!.textContent === 'online')
        await other.goto(`${gw.http}/#/devices/press-12`)
        await other.locator('#device-missing').waitFor({ state: 'visible' })
        assert.match(await textOf(other, '#device-missing'), /No device “press-12” has connected or published/)
        await other.close()
        await page.click('#device-back')
        await page.locator('#view-main').waitFor({ state: 'visible' })
      })

      await t.test(
        `${vp.name}: a gateway that stops answering makes the page visibly stale, and it recovers`,
        async () => {
          process.kill(gw.pid!, 'SIGSTOP')
          try {
            await page.waitForFunction(() => document.body.classList.contains('stale'), undefined, { timeout: 5_000 })
            assert.match(await textOf(page, '#verdict-title'), /No contact with the gateway since \d\d:\d\d:\d\d/)
            assert.equal(await page.locator('#btn-drain').isDisabled(), true)
            assert.equal(await page.locator('#btn-test').isDisabled(), true)
            assert.equal(
              await page.evaluate(() => getComputedStyle(document.getElementById('view-main')!).filter),
              'grayscale(1)'
            )
            await page.evaluate(() => window.scrollTo(0, 0))
            await page.screenshot({ path: join(ARTIFACTS, `status-stale-${vp.name}.png`) })
          } finally {
            process.kill(gw.pid!, 'SIGCONT')
          }
          await page.waitForFunction(() => !document.body.classList.contains('stale'), undefined, { timeout: 10_000 })
          assert.doesNotMatch(await textOf(page, '#verdict-title'), /No contact/)
          assert.equal(await page.locator('#btn-drain').isDisabled(), false)
        }
      )

      await t.test(`${vp.name}: no script errors`, () => {
        assert.deepEqual(errors, [])
      })
      await context.close()
    }

    await t.test('stopping the gateway while a page is live logs no error', async () => {
      const page = await browser!.newPage()
      await page.goto(`${gw.http}/`)
      await page.fill('#password', PASSWORD)
      await page.click('#btn-login')
      await page.locator('#live.on').waitFor({ timeout: 10_000 })
      assert.equal(await gw.stop(), 0)
      const log = gw.log()
      assert.doesNotMatch(log, /database connection is not open/)
      assert.doesNotMatch(log, /"level":"(error|fatal)"/, 'no error logged on the way down')
    })
  } finally {
    await browser?.close()
    sim.child.kill('SIGTERM')
    await sim.result.catch(() => {})
    await gw.stop()
  }
})
