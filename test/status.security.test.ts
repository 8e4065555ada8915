import { test } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { constants, gunzipSync } from 'node:zlib'
import { GatewayProcess, runCli } from './harness/gateway.js'

const PASSWORD = 'field-tech-Pa55word'
const METRICS_TOKEN = 'prom-scrape-token-5f2a9c1e'
const SASL_PASSWORD = 'kafka-sasl-secret-77Q'

interface Reply {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
}

/** A request from a chosen loopback source address (the login limit is per address). */
async function http(
  gw: GatewayProcess,
  path: string,
  o: { method?: string; headers?: Record<string, string>; body?: string; from?: string } = {}
): Promise<Reply> {
  return await new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: gw.httpPort,
        path,
        method: o.method ?? 'GET',
        headers: o.headers,
        localAddress: o.from ?? '127.0.0.1'
      },
      res => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', d => {
          body += d
        })
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }))
      }
    )
    req.on('error', reject)
    req.end(o.body)
  })
}

const jsonHeaders = { 'content-type': 'application/json' }

async function login(
  gw: GatewayProcess,
  password = PASSWORD,
  from?: string
): Promise<{ reply: Reply; cookie: string; csrf: string }> {
  const reply = await http(gw, '/api/login', {
    method: 'POST',
    headers: jsonHeaders,
    body: JSON.stringify({ password }),
    from
  })
  const set = ([] as string[]).concat(reply.headers['set-cookie'] ?? [])
  const cookie = set[0]?.split(';')[0] ?? ''
  const csrf = reply.status === 200 ? (JSON.parse(reply.body) as { csrf: string }).csrf : ''
  return { reply, cookie, csrf }
}

/** First `ms` of the live event stream, as text (gzip-decoded when asked for gzip). */
async function sse(gw: GatewayProcess, cookie: string, ms: number, gzip = false): Promise<string> {
  return await new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    const headers: Record<string, string> = { cookie, ...(gzip ? { 'accept-encoding': 'gzip' } : {}) }
    const req = request({ host: '127.0.0.1', port: gw.httpPort, path: '/api/events', headers }, res => {
      assert.equal(res.headers['content-encoding'], gzip ? 'gzip' : undefined)
      res.on('data', (d: Buffer) => chunks.push(d))
      setTimeout(() => {
        req.destroy()
        const raw = Buffer.concat(chunks)
        resolve((gzip ? gunzipSync(raw, { finishFlush: constants.Z_SYNC_FLUSH }) : raw).toString('utf8'))
      }, ms)
    })
    req.on('error', e => {
      if (chunks.length === 0) reject(e)
    })
    req.end()
  })
}

test('holdfast hash-password reads stdin and prints a usable scrypt hash', async () => {
  const r = await runCli(['hash-password'], { input: `${PASSWORD}\n` })
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stdout.trim(), /^scrypt\$16384\$8\$1\$[A-Za-z0-9+/]+=*\$[A-Za-z0-9+/]+=*$/)
  assert.ok(!r.stdout.includes(PASSWORD))
  const short = await runCli(['hash-password'], { input: 'short\n' })
  assert.equal(short.code, 2)
  assert.match(short.stderr, /HF_ERR_USAGE/)
})

test('technician login, sessions, CSRF, rate limit, and no secret in anything served', async t => {
  const hash = (await runCli(['hash-password'], { input: `${PASSWORD}\n` })).stdout.trim()
  const gw = await GatewayProcess.start({
    statusPublic: false,
    args: [
      '--status-password-hash',
      hash,
      '--status-metrics-token',
      METRICS_TOKEN,
      '--kafka-sasl-password',
      SASL_PASSWORD,
      '--status-session-ttl-ms',
      '4000',
      '--status-login-max-failures',
      '3',
      '--status-login-window-ms',
      '60000',
      '--status-push-interval-ms',
      '200'
    ]
  })
  const secrets = [PASSWORD, hash, hash.split('$')[4]!, hash.split('$')[5]!, METRICS_TOKEN, SASL_PASSWORD]
  const served: Array<[string, string]> = []
  try {
    await t.test('probes and the page shell are open; data needs a login', async () => {
      assert.equal((await http(gw, '/healthz')).status, 200)
      assert.equal((await http(gw, '/readyz')).status, 200)
      const page = await http(gw, '/')
      assert.equal(page.status, 200)
      const csp = String(page.headers['content-security-policy'])
      assert.match(csp, /default-src 'none'/)
      assert.match(csp, /script-src 'self'/)
      assert.match(csp, /connect-src 'self'/)
      assert.equal(page.headers['x-content-type-options'], 'nosniff')
      assert.equal(page.headers['x-frame-options'], 'DENY')
      served.push(['page', page.body], ['app.css', (await http(gw, '/assets/app.css')).body])
      for (const m of ['app', 'render', 'devices', 'chart', 'dom']) {
        const js = await http(gw, `/assets/${m}.js`)
        assert.equal(js.status, 200, m)
        assert.match(String(js.headers['content-type']), /^text\/javascript/)
        assert.ok(!js.body.includes('sourceMappingURL'), 'no source map reference (nothing else to fetch)')
        served.push([`${m}.js`, js.body])
      }
      for (const path of ['/api/status', '/api/events', '/api/history', '/api/device?id=x']) {
        const r = await http(gw, path)
        assert.equal(r.status, 401, path)
        assert.equal(JSON.parse(r.body).code, 'HF_ERR_LOGIN_REQUIRED', path)
      }
      for (const path of ['/api/actions/pause', '/api/diagnostics', '/api/logout']) {
        assert.equal((await http(gw, path, { method: 'POST', headers: jsonHeaders, body: '{}' })).status, 401, path)
      }
      const session = JSON.parse((await http(gw, '/api/session')).body)
      // The gateway's name is shown on the login screen, so a technician knows which box asks.
      assert.deepEqual(session, {
        gatewayId: 'test-gw',
        public: false,
        loginAvailable: true,
        authenticated: false,
        csrf: null,
        expiresAt: null
      })
    })

    await t.test('a wrong password is refused, the right one gives a strict HttpOnly session cookie', async () => {
      const bad = await login(gw, 'not-the-password')
      assert.equal(bad.reply.status, 401)
      assert.equal(JSON.parse(bad.reply.body).code, 'HF_ERR_LOGIN_FAILED')
      assert.equal(bad.reply.headers['set-cookie'], undefined)
      const { reply, cookie } = await login(gw)
      assert.equal(reply.status, 200)
      const set = String(([] as string[]).concat(reply.headers['set-cookie'] ?? [])[0])
      assert.match(set, /^hf_session=[A-Za-z0-9_-]{43}; /)
      assert.match(set, /; HttpOnly/)
      assert.match(set, /; SameSite=Strict/)
      assert.match(set, /; Path=\//)
      assert.match(set, /; Max-Age=4(;|$)/)
      const status = await http(gw, '/api/status', { headers: { cookie } })
      assert.equal(status.status, 200)
      assert.equal(JSON.parse(status.body).gatewayId, 'test-gw')
      served.push(['status', status.body], ['session', (await http(gw, '/api/session', { headers: { cookie } })).body])
      served.push(['history', (await http(gw, '/api/history', { headers: { cookie } })).body])
      served.push(['metrics', (await http(gw, '/metrics', { headers: { cookie } })).body])
      const events = await sse(gw, cookie, 500)
      assert.match(events, /event: history\ndata: \{/)
      assert.ok(
        (events.match(/event: status\ndata: \{"gatewayId":"test-gw"/g) ?? []).length >= 2,
        'the stream pushes the status repeatedly'
      )
      served.push(['events', events])
      // Browsers ask for gzip: every event arrives whole (flushed), compressed.
      const zipped = await sse(gw, cookie, 500, true)
      assert.ok((zipped.match(/event: status\ndata: \{"gatewayId":"test-gw"/g) ?? []).length >= 2)
      served.push(['events-gzip', zipped])
      // A forged cookie is nobody.
      assert.equal((await http(gw, '/api/status', { headers: { cookie: 'hf_session=' + 'A'.repeat(43) } })).status, 401)
    })

    await t.test('login only takes JSON from our own origin', async () => {
      const form = await http(gw, '/api/login', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: `password=${PASSWORD}`
      })
      assert.equal(form.status, 403)
      const cross = await http(gw, '/api/login', {
        method: 'POST',
        headers: { ...jsonHeaders, origin: 'http://evil.example' },
        body: JSON.stringify({ password: PASSWORD })
      })
      assert.equal(cross.status, 403)
      assert.equal(JSON.parse(cross.body).code, 'HF_ERR_CSRF')
    })

    await t.test('actions need the session CSRF token, from our own origin', async () => {
      const { cookie, csrf } = await login(gw)
      const post = async (path: string, headers: Record<string, string> = {}): Promise<Reply> =>
        await http(gw, path, { method: 'POST', headers: { ...jsonHeaders, cookie, ...headers }, body: '{}' })
      for (const path of [
        '/api/actions/test-uplink',
        '/api/actions/pause',
        '/api/actions/drain',
        '/api/diagnostics',
        '/api/logout'
      ]) {
        const none = await post(path)
        assert.equal(none.status, 403, path)
        assert.equal(JSON.parse(none.body).code, 'HF_ERR_CSRF')
        assert.equal(
          (await post(path, { 'x-csrf-token': csrf.slice(0, -1) + (csrf.endsWith('A') ? 'B' : 'A') })).status,
          403,
          path
        )
        assert.equal((await post(path, { 'x-csrf-token': csrf, origin: 'http://evil.example' })).status, 403, path)
        assert.equal((await post(path, { 'x-csrf-token': csrf, 'sec-fetch-site': 'cross-site' })).status, 403, path)
      }
      // Another session's token does not fit this session.
      const other = await login(gw)
      assert.equal((await post('/api/actions/test-uplink', { 'x-csrf-token': other.csrf })).status, 403)

      const tested = await post('/api/actions/test-uplink', {
        'x-csrf-token': csrf,
        origin: `http://127.0.0.1:${gw.httpPort}`
      })
      assert.equal(tested.status, 200)
      const outcome = JSON.parse(tested.body)
      assert.equal(outcome.ok, false, 'no uplink is configured: the test must not pretend success')
      assert.match(outcome.error, /no uplink configured/)
      // No kafka.brokers: there is nothing to pause or drain, and the answer says so.
      for (const path of ['/api/actions/pause', '/api/actions/resume', '/api/actions/drain']) {
        const refused = await post(path, { 'x-csrf-token': csrf })
        assert.equal(refused.status, 409, path)
        assert.equal(JSON.parse(refused.body).code, 'HF_ERR_UPLINK_UNCONFIGURED')
      }
      assert.equal(
        JSON.parse((await http(gw, '/api/status', { headers: { cookie } })).body).uplink.state,
        'unconfigured'
      )
      await gw.waitForLog(/HF_ERR_CSRF/, 'refusals are logged with their code')
    })

    await t.test('the diagnostics bundle (form post with the token) has everything but secrets', async () => {
      const { cookie, csrf } = await login(gw)
      const r = await http(gw, '/api/diagnostics', {
        method: 'POST',
        headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
        body: `csrf=${encodeURIComponent(csrf)}`
      })
      assert.equal(r.status, 200)
      assert.match(
        String(r.headers['content-disposition']),
        /^attachment; filename="holdfast-diagnostics-test-gw-\d{8}T\d{6}Z\.json"$/
      )
      const b = JSON.parse(r.body)
      assert.equal(b.kind, 'holdfast-diagnostics')
      assert.equal(b.gatewayId, 'test-gw')
      assert.equal(b.versions.node, process.versions.node)
      assert.match(b.versions.dependencies.aedes, /^\d+\.\d+\.\d+/)
      assert.equal(b.config.settings.status.passwordHash, '[redacted]')
      assert.equal(b.config.settings.status.metricsToken, '[redacted]')
      assert.equal(b.config.settings.kafka.saslPassword, '[redacted]')
      assert.equal(b.config.settings.mqtt.port, gw.mqttPort)
      assert.equal(b.status.gatewayId, 'test-gw')
      assert.ok(
        Array.isArray(b.logs) && b.logs.some((l: { msg: string }) => l.msg === 'technician logged in'),
        'recent logs included'
      )
      assert.match(b.metrics, /holdfast_readings_received_total/)
      served.push(['diagnostics', r.body])
    })

    await t.test('no secret appears in any page, API answer, stream, metrics or bundle', () => {
      assert.ok(served.length >= 9)
      for (const [what, body] of served) {
        for (const s of secrets) assert.ok(!body.includes(s), `${what} contains a secret (${s.slice(0, 6)}…)`)
      }
      for (const s of [PASSWORD, METRICS_TOKEN, SASL_PASSWORD])
        assert.ok(!gw.log().includes(s), 'log contains a secret')
    })

    await t.test('logout ends the session', async () => {
      const { cookie, csrf } = await login(gw)
      const out = await http(gw, '/api/logout', {
        method: 'POST',
        headers: { ...jsonHeaders, cookie, 'x-csrf-token': csrf },
        body: '{}'
      })
      assert.equal(out.status, 200)
      assert.match(String(([] as string[]).concat(out.headers['set-cookie'] ?? [])[0]), /^hf_session=; .*Max-Age=0/)
      assert.equal((await http(gw, '/api/status', { headers: { cookie } })).status, 401)
    })

    await t.test('sessions expire, and an open live stream is told so', async () => {
      const { cookie } = await login(gw)
      assert.equal((await http(gw, '/api/status', { headers: { cookie } })).status, 200)
      const stream = sse(gw, cookie, 4_600)
      await new Promise(resolve => setTimeout(resolve, 4_200))
      assert.equal((await http(gw, '/api/status', { headers: { cookie } })).status, 401)
      assert.match(await stream, /event: expired/)
    })

    await t.test('failed logins are limited per address, even for the right password', async () => {
      const from = '127.0.0.3'
      for (let i = 0; i < 3; i++) assert.equal((await login(gw, `wrong-${i}`, from)).reply.status, 401)
      const limited = await login(gw, PASSWORD, from)
      assert.equal(limited.reply.status, 429)
      assert.equal(JSON.parse(limited.reply.body).code, 'HF_ERR_AUTH_RATE_LIMITED')
      assert.ok(Number(limited.reply.headers['retry-after']) > 50)
      assert.equal(limited.cookie, '')
      // Another address is not punished for it.
      assert.equal((await login(gw, PASSWORD, '127.0.0.4')).reply.status, 200)
      const m = await http(gw, '/metrics', { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })
      assert.match(m.body, /^holdfast_status_login_failures_total [5-9]$/m)
    })
  } finally {
    await gw.stop()
  }
})

test('--status-public opens the page data and /api/status, but not the actions', async () => {
  const gw = await GatewayProcess.start({ statusPublic: true })
  try {
    assert.equal((await http(gw, '/api/status')).status, 200)
    assert.equal((await http(gw, '/metrics')).status, 200)
    const s = JSON.parse((await http(gw, '/api/session')).body)
    assert.equal(s.public, true)
    assert.equal(s.loginAvailable, false)
    assert.equal(
      (await http(gw, '/api/actions/pause', { method: 'POST', headers: jsonHeaders, body: '{}' })).status,
      401
    )
    const noLogin = await http(gw, '/api/login', {
      method: 'POST',
      headers: jsonHeaders,
      body: JSON.stringify({ password: 'whatever-it-is' })
    })
    assert.equal(noLogin.status, 503)
    assert.equal(JSON.parse(noLogin.body).code, 'HF_ERR_LOGIN_UNAVAILABLE')
  } finally {
    await gw.stop()
  }
})
