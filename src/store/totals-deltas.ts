/** Lifetime totals changed per device and name: by one transaction, or waiting to be written. */
import { type Listed, ZeroedEntries, zeroValues } from './zeroed-entries.js'

/** A device's changed totals, by name. */
interface DeviceDeltas extends Listed {
  readonly device: string
  /** The device's name as a JSON string (pending rows are JSON: totals-pending.ts). */
  readonly quoted: string
  readonly names: Map<string, number>
}

/** Reset after every release or commit transaction (one per 1,024-2,048 readings in a drain, touching up to every device). */
export class TotalsDeltas extends ZeroedEntries<DeviceDeltas> {
  constructor() {
    super(
      device => ({ device, quoted: JSON.stringify(device), names: new Map(), listed: false }),
      d => zeroValues(d.names)
    )
  }

  add(device: string, name: string, n: number): void {
    const d = this.touch(device)
    d.names.set(name, (d.names.get(name) ?? 0) + n)
  }

  /** Each non-zero change since the last reset. */
  forEach(fn: (device: string, name: string, n: number, quoted: string) => void): void {
    this.forEachChanged(d =>
      // Map's forEach: no [name, n] array per entry (thousands per drained release).
      d.names.forEach((n, name) => {
        if (n !== 0) fn(d.device, name, n, d.quoted)
      })
    )
  }
}
