/**
 * The technicians' page: one static HTML shell with no data in it (the data comes over
 * /api/events after login), its stylesheet and its scripts served from this gateway only.
 * Two views in one page: the dashboard (`#/`) and one device (`#/devices/<id>`).
 */
export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light">
<title>Holdfast gateway</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/app.css">
<link rel="modulepreload" href="/assets/render.js">
<link rel="modulepreload" href="/assets/devices.js">
<link rel="modulepreload" href="/assets/device.js">
<link rel="modulepreload" href="/assets/actions.js">
<link rel="modulepreload" href="/assets/chart.js">
<link rel="modulepreload" href="/assets/dom.js">
<script type="module" src="/assets/app.js"></script>
</head>
<body>
<header class="top">
  <h1 class="brand"><span class="logo" aria-hidden="true">⚓</span> Holdfast <span class="sr-only">gateway</span> <span id="gw-id" class="gw"></span></h1>
  <div class="meta"><span id="live" class="live off">connecting…</span></div>
  <div class="who">
    <span id="who"></span>
    <button id="btn-login-open" class="link" hidden>Technician login</button>
    <button id="btn-logout" class="link" hidden>Log out</button>
  </div>
</header>
<p id="announce" class="sr-only" role="status" aria-live="polite" aria-atomic="true"></p>

<section id="login" class="login card" hidden aria-labelledby="login-title">
  <h2 id="login-title">Technician login</h2>
  <p id="login-gateway" class="gateway-name" hidden>Gateway <strong id="login-gw-id"></strong></p>
  <p id="login-note" class="muted">This gateway's status page needs the technician password.</p>
  <form id="login-form">
    <input type="text" name="username" autocomplete="username" value="technician" hidden>
    <label for="password">Password</label>
    <input id="password" name="password" type="password" autocomplete="current-password" required>
    <button id="btn-login" type="submit" class="primary">Log in</button>
  </form>
  <p id="login-error" class="error" role="alert" hidden></p>
</section>

<main id="dash" hidden>
  <section id="verdict" class="verdict" aria-labelledby="verdict-title">
    <h2 id="verdict-title" class="verdict-title"></h2>
    <ul id="verdict-list"></ul>
  </section>

  <div id="view-main" class="grid">
    <section class="card" id="card-uplink" aria-labelledby="h-uplink">
      <h2 id="h-uplink">Uplink</h2>
      <div class="big"><span id="uplink-state" class="pill">–</span></div>
      <p id="uplink-explain" class="explain small"></p>
      <p id="uplink-outage" class="small outage"></p>
      <p id="uplink-cause" class="cause small" hidden></p>
      <details id="uplink-raw-box" class="raw small" hidden><summary>details</summary><code id="uplink-raw"></code></details>
      <div class="actions" id="actions">
        <button id="btn-test" data-action="test-uplink">Test uplink now</button>
        <button id="btn-drain" data-action="drain">Drain now</button>
        <button id="btn-pause" data-action="pause">Pause forwarding</button>
        <button id="btn-resume" data-action="resume" hidden>Resume forwarding</button>
      </div>
      <p id="actions-locked" class="muted small" hidden>Log in as technician to test, drain or pause the uplink.</p>
      <div id="action-result" class="result small" role="status" hidden><span id="action-text"></span><details id="action-raw-box" hidden><summary>details</summary><code id="action-raw"></code></details></div>
      <details id="history-box" class="history-box"><summary>Recent uplink states</summary><ol id="uplink-history" class="history"></ol></details>
    </section>

    <section class="card" id="card-backlog" aria-labelledby="h-backlog">
      <h2 id="h-backlog">Backlog</h2>
      <div class="big"><span id="backlog-readings">–</span> <span class="unit">readings</span></div>
      <dl class="kv">
        <dt>On disk</dt><dd><span id="backlog-bytes">–</span> <span id="backlog-share" class="muted"></span></dd>
        <dt>Oldest reading</dt><dd id="backlog-age">–</dd>
        <dt>Net inflow</dt><dd id="backlog-net">–</dd>
        <dt>Drain rate</dt><dd id="backlog-rate">–</dd>
        <dt>Disk budget full in</dt><dd id="backlog-full">–</dd>
        <dt>Empty in</dt><dd id="backlog-eta">–</dd>
      </dl>
      <p id="backlog-then" class="small then" hidden></p>
      <div class="bar" title="share of the disk budget"><div id="backlog-bar"></div></div>
    </section>

    <section class="card" id="card-ingest" aria-labelledby="h-ingest">
      <h2 id="h-ingest">Readings</h2>
      <div class="big"><span id="ingest-rate">–</span> <span class="unit">stored / s</span></div>
      <dl class="kv">
        <dt>Received</dt><dd id="received">–</dd>
        <dt>Stored</dt><dd id="stored">–</dd>
        <dt>Forwarded</dt><dd id="forwarded">–</dd>
        <dt>Re-sends recognised</dt><dd id="duplicates">–</dd>
        <dt>Dropped</dt><dd id="dropped">–</dd>
        <dt>Device login failures</dt><dd id="auth-failures">–</dd>
        <dt>Connections refused</dt><dd id="refused">–</dd>
        <dt>MQTT clients</dt><dd id="mqtt-conns">–</dd>
      </dl>
      <ul id="drop-reasons" class="reasons small"></ul>
    </section>

    <section class="card wide" id="card-chart" aria-labelledby="chart-title">
      <h2><span id="chart-title">Last 5 min</span> <span class="legend"><i class="sw ingest"></i>ingest <i class="sw forward"></i>forward <i class="sw drop"></i>dropped <span class="muted">(readings / s)</span> <i class="sw backlog"></i>backlog <span class="muted">(readings, right scale)</span></span></h2>
      <div class="chart-box">
        <svg id="chart" viewBox="0 0 720 200" role="img" aria-label="readings per second and backlog over the last 5 minutes"></svg>
        <div id="chart-tip" class="chart-tip small" hidden></div>
      </div>
    </section>

    <section class="card wide" id="card-devices" aria-labelledby="h-devices">
      <h2 id="h-devices">Devices <span id="devices-count" class="muted"></span></h2>
      <div class="filters">
        <input id="device-filter" type="search" placeholder="Filter by device id…" aria-label="filter devices">
        <select id="device-state" aria-label="show">
          <option value="all">All</option>
          <option value="online">Online</option>
          <option value="offline">Offline</option>
          <option value="problems">With drops or login failures</option>
        </select>
        <select id="device-sort" class="phone-only" aria-label="sort by">
          <option value="id">Sort: id</option>
          <option value="lastSeenS">Sort: last seen (longest silent first)</option>
          <option value="ratePerS">Sort: rate</option>
          <option value="buffered">Sort: buffered</option>
          <option value="droppedTotal">Sort: dropped</option>
          <option value="authFailures">Sort: login failures</option>
        </select>
      </div>
      <div class="table-wrap">
        <table id="devices">
          <thead><tr>
            <th tabindex="0" data-key="id">Device</th>
            <th tabindex="0" data-key="connected">State</th>
            <th tabindex="0" data-key="lastSeenS" class="num">Last seen</th>
            <th tabindex="0" data-key="ratePerS" class="num">Rate /s</th>
            <th tabindex="0" data-key="received" class="num">Received</th>
            <th tabindex="0" data-key="buffered" class="num">Buffered</th>
            <th tabindex="0" data-key="droppedTotal" class="num">Dropped</th>
            <th tabindex="0" data-key="authFailures" class="num">Login fails</th>
            <th tabindex="0" data-key="quota" class="num">Quota use</th>
          </tr></thead>
          <tbody></tbody>
        </table>
      </div>
      <p id="devices-empty" class="empty" hidden></p>
      <p id="devices-more" class="muted small" hidden></p>
    </section>

    <section class="card" id="card-budget" aria-labelledby="h-budget">
      <h2 id="h-budget">Aggregation, priorities, uplink budget</h2>
      <dl class="kv">
        <dt>Rollups made</dt><dd id="agg-rollups">–</dd>
        <dt>Rollups forwarded</dt><dd id="agg-rollups-fwd">–</dd>
        <dt>Late readings</dt><dd id="agg-late">–</dd>
        <dt>Compacted readings</dt><dd id="agg-compacted">–</dd>
        <dt>Open windows</dt><dd id="agg-windows">–</dd>
      </dl>
      <h3>Uplink budget</h3>
      <ul id="budget-periods" class="plain small"></ul>
      <h3>Priority classes</h3>
      <ul id="budget-classes" class="plain small"></ul>
    </section>

    <section class="card" id="card-host" aria-labelledby="h-host">
      <h2 id="h-host">Host</h2>
      <dl class="kv">
        <dt>CPU</dt><dd id="host-cpu">–</dd>
        <dt>Memory</dt><dd id="host-mem">–</dd>
        <dt>Holdfast uses</dt><dd id="host-own">–</dd>
        <dt>Data volume</dt><dd id="host-disk">–</dd>
        <dt>Temperature</dt><dd id="host-temp">–</dd>
        <dt>Host up</dt><dd id="host-uptime">–</dd>
        <dt>System</dt><dd id="host-os" class="small">–</dd>
      </dl>
      <h3>Network</h3>
      <ul id="host-net" class="net small"></ul>
    </section>

    <section class="card" id="card-log" aria-labelledby="h-log">
      <h2 id="h-log">Recent warnings and errors</h2>
      <ol id="log" class="log small"></ol>
    </section>

    <section class="card" id="card-config" aria-labelledby="h-config">
      <h2 id="h-config">Gateway</h2>
      <dl class="kv">
        <dt>Gateway id</dt><dd id="cfg-gateway">–</dd>
        <dt>Holdfast</dt><dd id="cfg-version">–</dd>
        <dt>Running for</dt><dd id="cfg-uptime">–</dd>
        <dt>Config</dt><dd id="cfg-source" class="small">–</dd>
        <dt>Config version</dt><dd id="cfg-cversion">–</dd>
        <dt>Buffer</dt><dd id="cfg-store" class="small">–</dd>
        <dt>Ready</dt><dd id="cfg-ready">–</dd>
      </dl>
      <form id="diag-form" method="post" action="/api/diagnostics">
        <input type="hidden" name="csrf" id="diag-csrf" value="">
        <button id="btn-diag" type="submit">Download diagnostics bundle</button>
      </form>
      <p id="diag-result" class="result small" role="status" hidden></p>
    </section>
  </div>

  <section id="view-device" class="device-view" hidden aria-labelledby="device-title">
    <p><a href="#/" id="device-back">← All devices</a></p>
    <h2 id="device-title" class="device-title"><span id="device-id" class="device-id"></span> <span id="dev-state" class="pill">–</span></h2>
    <p id="device-missing" class="empty" hidden></p>
    <div id="device-body" class="grid">
      <section class="card" aria-labelledby="h-dev-activity">
        <h3 id="h-dev-activity">Activity</h3>
        <dl class="kv">
          <dt>Last seen</dt><dd id="dev-last-seen">–</dd>
          <dt>Rate</dt><dd id="dev-rate">–</dd>
          <dt>Received</dt><dd id="dev-received">–</dd>
          <dt>Stored</dt><dd id="dev-stored">–</dd>
          <dt>Forwarded</dt><dd id="dev-forwarded">–</dd>
          <dt>Re-sends recognised</dt><dd id="dev-duplicates">–</dd>
        </dl>
      </section>
      <section class="card" aria-labelledby="h-dev-buffer">
        <h3 id="h-dev-buffer">Buffer and quota</h3>
        <dl class="kv">
          <dt>Buffered</dt><dd id="dev-buffered">–</dd>
          <dt>Quota use</dt><dd id="dev-quota">–</dd>
          <dt>Storage policy</dt><dd id="dev-policy">–</dd>
          <dt>Rate limit</dt><dd id="dev-rate-limit">–</dd>
        </dl>
      </section>
      <section class="card" aria-labelledby="h-dev-sessions">
        <h3 id="h-dev-sessions">Identity and sessions</h3>
        <dl class="kv">
          <dt>Sessions open</dt><dd id="dev-sessions-open">–</dd>
          <dt>Connects since start</dt><dd id="dev-connects">–</dd>
          <dt>Last connect</dt><dd id="dev-last-connect">–</dd>
          <dt>Last disconnect</dt><dd id="dev-last-disconnect">–</dd>
          <dt>Login failures</dt><dd id="dev-auth-failures">–</dd>
        </dl>
        <ul id="dev-sessions" class="plain small"></ul>
      </section>
      <section class="card" aria-labelledby="h-dev-problems">
        <h3 id="h-dev-problems">Drops and refusals</h3>
        <ul id="dev-problems" class="plain small"></ul>
      </section>
      <section class="card wide" aria-labelledby="h-dev-recent">
        <h3 id="h-dev-recent">Last readings</h3>
        <p id="dev-payload-note" class="muted small" hidden>Payloads are shown to a logged-in technician.</p>
        <ol id="dev-recent" class="recent small"></ol>
      </section>
    </div>
  </section>
</main>
<footer class="foot muted small">Holdfast · served by this gateway, works offline<span id="foot-links" hidden> · <a href="/metrics">metrics</a> · <a href="/api/status">status JSON</a></span></footer>
</body>
</html>
`
