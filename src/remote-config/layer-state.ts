/**
 * The layers in force and their persistent state (store.ts), with the parsed config tree of each
 * stored document (verified again the first time it is read after a start).
 */
import { configError } from '../config/load.js'
import { effectiveConfig, type Effective, type LocalInputs } from './apply.js'
import { checkDocument } from './document.js'
import type { Layer } from './layers.js'
import { readState, type RemoteState, type StoredDocument, writeState, writeStateAsync } from './store.js'
import { type TrustedKey, verifyMessage } from './verify.js'

export class LayerState {
  state: RemoteState
  /** Parsed config trees of the layers in force (and of `previous` while pending), by key. */
  readonly trees = new Map<string, Record<string, unknown>>()

  constructor(
    private readonly file: string,
    gatewayId: string,
    /** Layer keys, lowest first. */
    readonly order: readonly string[],
    private readonly keys: readonly TrustedKey[],
    private readonly inputs: LocalInputs
  ) {
    this.state = readState(file, gatewayId)
    // Layers of keys this gateway no longer follows (a group left) are dropped.
    for (const k of Object.keys(this.state.layers)) if (!order.includes(k)) delete this.state.layers[k]
  }

  /** At start (before devices connect). */
  save(): void {
    writeState(this.file, this.state)
  }

  /** While running: the write and its syncs stay off the broker's thread. */
  async saveAsync(): Promise<void> {
    await writeStateAsync(this.file, this.state)
  }

  /** Documents in force, lowest layer first. */
  inForce(layers: Record<string, StoredDocument> = this.state.layers): StoredDocument[] {
    return this.order.filter(k => layers[k] !== undefined).map(k => layers[k]!)
  }

  top(): StoredDocument | null {
    return this.inForce().at(-1) ?? null
  }

  /** Verify a stored document again and return its config tree. */
  treeOf(d: StoredDocument): Record<string, unknown> {
    const cached = this.trees.get(d.key)
    if (cached !== undefined) return cached
    const tree = treeOfStored(d, this.keys)
    this.trees.set(d.key, tree)
    return tree
  }

  /** The layers of `stored`, lowest first, with `extra` in its place if given. */
  layersOf(stored: Record<string, StoredDocument>, extra?: Layer): Layer[] {
    return this.order.flatMap(k => {
      if (extra?.key === k) return [extra]
      const d = stored[k]
      return d === undefined ? [] : [{ key: k, config: this.treeOf(d) }]
    })
  }

  effective(stored: Record<string, StoredDocument>): Effective {
    return effectiveConfig(this.inputs, this.layersOf(stored))
  }
}

/** A stored document verified again: its config tree. Throws when it no longer verifies or checks. */
export function treeOfStored(d: StoredDocument, keys: readonly TrustedKey[]): Record<string, unknown> {
  const v = verifyMessage(Buffer.from(d.wire, 'utf8'), keys)
  if (!v.ok) throw new Error(`${d.key} v${d.version}: ${v.reason}: ${v.message}`)
  const { doc, errors } = checkDocument(v.document)
  if (doc === null) throw configError(errors)
  return doc.config
}
