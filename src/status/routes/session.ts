/**
 * Technician login and logout. The password is checked against the configured scrypt hash;
 * failures are rate-limited per client address, and a limited address is refused even with
 * the right password until its window passes.
 */
import { Sessions } from '../auth.js'
import { fail, json, sameOrigin } from '../http.js'
import { verifyPassword } from '../password.js'
import type { Route } from '../context.js'

export const sessionRoutes: Route[] = [
  {
    method: 'GET',
    path: '/api/session',
    access: 'open',
    handle: ({ res, session }, ctx) =>
      json(res, 200, {
        // The login screen names the gateway, so a technician knows which box asks for the password.
        gatewayId: ctx.config.gatewayId,
        public: ctx.config.status.public,
        loginAvailable: ctx.config.status.passwordHash !== '',
        authenticated: session !== null,
        // Readable only by our own page's script (no CORS), sent back on every action.
        csrf: session?.csrf ?? null,
        expiresAt: session === null ? null : new Date(session.expiresMs).toISOString()
      })
  },
  {
    method: 'POST',
    path: '/api/login',
    access: 'open',
    handle: async ({ req, res, body, address }, ctx) => {
      // JSON only: a cross-site HTML form cannot send it without a CORS preflight we never grant.
      if (!sameOrigin(req) || !String(req.headers['content-type'] ?? '').startsWith('application/json'))
        return fail(res, 403, 'HF_ERR_CSRF')
      const hash = ctx.config.status.passwordHash
      if (hash === '')
        return fail(
          res,
          503,
          'HF_ERR_LOGIN_UNAVAILABLE',
          'no technician password is configured (status.passwordHash; see `holdfast hash-password`)'
        )
      const waitMs = ctx.limiter.retryAfterMs(address)
      if (waitMs > 0) {
        ctx.stats.loginFailures++
        ctx.log.warn(
          { code: 'HF_ERR_AUTH_RATE_LIMITED', address },
          'technician login refused: too many failures from this address'
        )
        return fail(
          res,
          429,
          'HF_ERR_AUTH_RATE_LIMITED',
          `too many failed logins from this address; try again in ${Math.ceil(waitMs / 1000)} s`,
          { 'retry-after': String(Math.ceil(waitMs / 1000)) }
        )
      }
      const password = typeof body.password === 'string' ? body.password : ''
      ctx.limiter.begin(address)
      // Every attempt costs one scrypt, whatever it sent, so timing tells nothing about the password.
      const matches = await verifyPassword(password.slice(0, 1024), hash)
      if (password === '' || password.length > 1024 || !matches) {
        ctx.limiter.fail(address)
        ctx.stats.loginFailures++
        ctx.log.warn({ code: 'HF_ERR_LOGIN_FAILED', address }, 'technician login failed: wrong password')
        return fail(res, 401, 'HF_ERR_LOGIN_FAILED')
      }
      ctx.limiter.succeed(address)
      const s = ctx.sessions.create(address)
      ctx.log.info({ address }, 'technician logged in')
      json(
        res,
        200,
        { authenticated: true, csrf: s.csrf, expiresAt: new Date(s.expiresMs).toISOString() },
        { 'set-cookie': ctx.sessions.cookie(s) }
      )
    }
  },
  {
    method: 'POST',
    path: '/api/logout',
    access: 'tech',
    handle: ({ res, session, address }, ctx) => {
      ctx.sessions.revoke(session!.id)
      ctx.log.info({ address }, 'technician logged out')
      json(res, 200, { authenticated: false }, { 'set-cookie': Sessions.clearCookie() })
    }
  }
]
