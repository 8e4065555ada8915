/** Realistic sensor telemetry: slowly drifting temperature and humidity, vibration bursts, a draining battery. */
export class SensorModel {
  private temp: number
  private hum: number
  private bat: number
  private burstLeft = 0
  n = 0

  constructor(private readonly rnd: () => number) {
    this.temp = 18 + rnd() * 8
    this.hum = 35 + rnd() * 20
    this.bat = 3.6 + rnd() * 0.6
  }

  next(nowMs: number): Buffer {
    this.temp += (this.rnd() - 0.5) * 0.05
    this.hum = Math.min(100, Math.max(0, this.hum + (this.rnd() - 0.5) * 0.1))
    this.bat = Math.max(3.0, this.bat - 0.00001)
    if (this.burstLeft === 0 && this.rnd() < 0.01) this.burstLeft = 5 + Math.floor(this.rnd() * 20)
    const vib = this.burstLeft > 0 ? 0.5 + this.rnd() * 2 : this.rnd() * 0.02
    if (this.burstLeft > 0) this.burstLeft--
    const doc = {
      ts: nowMs,
      n: this.n++,
      temp: round(this.temp, 2),
      hum: round(this.hum, 1),
      vib: round(vib, 3),
      bat: round(this.bat, 3)
    }
    return Buffer.from(JSON.stringify(doc))
  }
}

const round = (v: number, d: number): number => Math.round(v * 10 ** d) / 10 ** d

/** Small seeded PRNG (mulberry32) so runs are repeatable. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
