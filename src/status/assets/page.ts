/**
 * The technicians' page: one static HTML shell with no data in it (the data comes over
 * /api/events after login), its stylesheet and its script served from this gateway only.
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
<link rel="modulepreload" href="/assets/chart.js">
<link rel="modulepreload" href="/assets/dom.js">
<script type="module" src="/assets/app.js"></script>
</head>
<body>
<header class="top">
  <div class="brand"><span class="logo" aria-hidden="true">⚓</span> Holdfast <span id="gw-id" class="gw"></span></div>
  <div class="meta"><span id="live" class="live off" title="live feed">connecting…</span></div>
  <div class="who">
    <span id="who"></span>
    <button id="btn-login-open" class="link" hidden>Technician login</button>
    <button id="btn-logout" class="link" hidden>Log out</button>
  </div>
</header>

<section id="login" class="login card" hidden>
  <h1>Technician login</h1>
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
  <section id="verdict" class="verdict" aria-live="polite">
    <div id="verdict-title" class="verdict-title"></div>
    <ul id="verdict-list"></ul>
  </section>

  <div class="grid">
    <section class="card" id="card-uplink">
      <h2>Uplink</h2>
      <div class="big"><span id="uplink-state" class="pill">–</span></div>
      <div id="uplink-since" class="muted small since"></div>
      <p id="uplink-error" class="error small" hidden></p>
      <dl class="kv">
        <dt>Drain rate</dt><dd id="uplink-rate">–</dd>
        <dt>Backlog empty in</dt><dd id="uplink-eta">–</dd>
      </dl>
      <div class="actions" id="actions">
        <button id="btn-test" data-action="test-uplink">Test uplink now</button>
        <button id="btn-drain" data-action="drain">Drain now</button>
        <button id="btn-pause" data-action="pause">Pause forwarding</button>
        <button id="btn-resume" data-action="resume" hidden>Resume forwarding</button>
      </div>
      <p id="actions-locked" class="muted small" hidden>Log in as technician to test, drain or pause the uplink.</p>
      <p id="action-result" class="result small" role="status" hidden></p>
      <h3>Recent states</h3>
      <ol id="uplink-history" class="history"></ol>
    </section>

    <section class="card" id="card-backlog">
      <h2>Backlog</h2>
      <div class="big"><span id="backlog-readings">–</span> <span class="unit">readings</span></div>
      <dl class="kv">
        <dt>On disk</dt><dd><span id="backlog-bytes">–</span> <span id="backlog-share" class="muted"></span></dd>
        <dt>Oldest reading</dt><dd id="backlog-age">–</dd>
        <dt>Drain rate</dt><dd id="backlog-rate">–</dd>
        <dt>Empty in</dt><dd id="backlog-eta">–</dd>
      </dl>
      <div class="bar" title="share of the disk budget"><div id="backlog-bar"></div></div>
    </section>

    <section class="card" id="card-ingest">
      <h2>Readings</h2>
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

    <section class="card wide" id="card-chart">
      <h2><span id="chart-title">Last hour</span> <span class="legend"><i class="sw ingest"></i>ingest <i class="sw forward"></i>forward <i class="sw drop"></i>dropped <span class="muted">(readings / s)</span></span></h2>
      <svg id="chart" viewBox="0 0 720 200" role="img" aria-label="ingest and forward rates over the last hour"></svg>
    </section>

    <section class="card wide" id="card-devices">
      <h2>Devices <span id="devices-count" class="muted"></span></h2>
      <div class="filters">
        <input id="device-filter" type="search" placeholder="Filter by device id…" aria-label="filter devices">
        <select id="device-state" aria-label="show">
          <option value="all">All</option>
          <option value="online">Online</option>
          <option value="offline">Offline</option>
          <option value="problems">With drops or login failures</option>
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
      <p id="devices-more" class="muted small" hidden></p>
    </section>

    <section class="card" id="card-host">
      <h2>Host</h2>
      <dl class="kv">
        <dt>CPU</dt><dd id="host-cpu">–</dd>
        <dt>Memory</dt><dd id="host-mem">–</dd>
        <dt>Data volume</dt><dd id="host-disk">–</dd>
        <dt>Temperature</dt><dd id="host-temp">–</dd>
        <dt>Host up</dt><dd id="host-uptime">–</dd>
        <dt>System</dt><dd id="host-os" class="small">–</dd>
      </dl>
      <h3>Network</h3>
      <ul id="host-net" class="net small"></ul>
    </section>

    <section class="card" id="card-log">
      <h2>Recent warnings and errors</h2>
      <ol id="log" class="log small"></ol>
    </section>

    <section class="card" id="card-config">
      <h2>Gateway</h2>
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
    </section>
  </div>
</main>
<footer class="foot muted small">Holdfast · served by this gateway, works offline · <a href="/metrics">metrics</a> · <a href="/api/status">status JSON</a></footer>
</body>
</html>
`
