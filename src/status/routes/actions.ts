/** Technician actions: uplink test, drain, pause/resume, diagnostics download. Each is logged. */
import { isHoldfastError } from '../../errors.js'
import { uplinkCause } from '../../forward/uplink-cause.js'
import { diagnosticsBundle } from '../diagnostics.js'
import { fail, json, send } from '../http.js'
import type { Ctx, Request, Route } from '../context.js'

type Act = 'drainNow' | 'pause' | 'resume'

function action(path: string, act: Act, what: string): Route {
  return {
    method: 'POST',
    path,
    access: 'tech',
    handle: async ({ res, address }: Request, ctx: Ctx) => {
      let result: unknown = null
      try {
        result = (await ctx.actions[act]()) ?? null
      } catch (err) {
        const code = isHoldfastError(err) ? err.code : 'HF_ERR_ACTION_FAILED'
        ctx.log.warn({ code, address, action: act }, `technician action refused: ${what}: ${(err as Error).message}`)
        return fail(res, 409, code, (err as Error).message)
      }
      ctx.log.info({ address, action: act, ...(result ?? {}) }, `technician action: ${what}`)
      json(res, 200, { ok: true, result, uplink: ctx.sources.uplink() })
    }
  }
}

export const actionRoutes: Route[] = [
  {
    method: 'POST',
    path: '/api/actions/test-uplink',
    access: 'tech',
    handle: async ({ res, address }, ctx) => {
      const t0 = Date.now()
      const r = await ctx.actions.testUplink()
      const ms = Date.now() - t0
      ctx.log.info(
        { address, action: 'testUplink', ok: r.ok, ms },
        `technician action: uplink test ${r.ok ? 'succeeded' : 'failed'}`
      )
      json(res, 200, {
        ok: r.ok,
        error: r.error === undefined ? null : ctx.scrub(r.error),
        cause: r.error === undefined ? null : uplinkCause(ctx.scrub(r.error)),
        ms,
        uplink: ctx.sources.uplink()
      })
    }
  },
  action('/api/actions/drain', 'drainNow', 'drain now'),
  action('/api/actions/pause', 'pause', 'pause forwarding'),
  action('/api/actions/resume', 'resume', 'resume forwarding'),
  {
    method: 'POST',
    path: '/api/diagnostics',
    access: 'tech',
    handle: async ({ res, address }, ctx) => {
      const b = diagnosticsBundle({
        config: ctx.config,
        configInfo: ctx.sources.config(),
        status: ctx.document(),
        history: ctx.history.points(),
        logs: ctx.logs.lines(),
        metrics: await ctx.metrics.text()
      })
      ctx.log.info(
        { address, action: 'diagnostics', bytes: b.body.length },
        'technician action: diagnostics bundle downloaded'
      )
      send(res, 200, b.body, {
        'content-type': 'application/json; charset=utf-8',
        'content-disposition': `attachment; filename="${b.filename}"`,
        'cache-control': 'no-store'
      })
    }
  }
]
