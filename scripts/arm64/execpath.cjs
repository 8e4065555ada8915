/*
 * Preloaded (NODE_OPTIONS=--require) into every Node process of the arm64 proof.
 *
 * Under qemu user-mode emulation without a binfmt_misc handler, the kernel cannot exec an
 * aarch64 ELF, so `spawn(process.execPath, ...)` — how the test harness starts gateways and
 * device fleets — would fail with ENOEXEC. Pointing process.execPath at a wrapper script that
 * runs `qemu-aarch64-static <arm64 node>` makes every child arm64 too, without touching the
 * tests or any machine-wide state. With a binfmt handler (or on a real arm64 board) the script
 * does not preload this file at all.
 *
 * Each process also appends one line (pid, arch, script) to HF_ARM64_TRACE, so the run can
 * prove afterwards that the runner, the gateways and the simulators all ran as arm64.
 */
'use strict'
const fs = require('node:fs')
if (process.env.HF_ARM64_EXEC_WRAPPER) process.execPath = process.env.HF_ARM64_EXEC_WRAPPER
if (process.env.HF_ARM64_TRACE) {
  const script = process.argv[1] ? require('node:path').relative(process.cwd(), process.argv[1]) : '-e'
  try {
    fs.appendFileSync(process.env.HF_ARM64_TRACE, `${process.pid} ${process.arch} ${script}\n`)
  } catch {}
}
