/** Bounds checked on untrusted changeset bytes before and while decoding. */
export interface DecodeLimits {
  /** Largest encoded changeset accepted, in bytes. */
  maxBytes: number
  /** Most changes in one changeset. */
  maxChanges: number
  /** Most distinct tables or columns named in one changeset. */
  maxNames: number
  /** Longest table or column name, in characters. */
  maxNameLength: number
}

export const DEFAULT_DECODE_LIMITS: DecodeLimits = {
  maxBytes: 8 * 1024 * 1024,
  maxChanges: 200_000,
  maxNames: 4096,
  maxNameLength: 256,
}

/** Default target size of one changeset chunk on the wire, in bytes. */
export const DEFAULT_CHUNK_BYTES = 32 * 1024
