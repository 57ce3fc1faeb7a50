/**
 * Length-prefixed framing for byte streams: each frame is a 4-byte big-endian length
 * followed by that many bytes. The length is checked against `maxFrameBytes` before
 * anything is buffered for the frame, so a hostile peer cannot make us allocate more.
 */
import { PatinaError } from '@patina/api'

export const FRAME_HEADER_BYTES = 4

export function encodeFrame(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_BYTES + payload.byteLength)
  new DataView(out.buffer).setUint32(0, payload.byteLength, false)
  out.set(payload, FRAME_HEADER_BYTES)
  return out
}

/** Anything that yields byte chunks (`Uint8Array`, or a `Uint8ArrayList`-like with `subarray()`). */
export type ByteChunk = Uint8Array | { subarray(): Uint8Array }

/** Splits a stream of byte chunks into frames. */
export async function* decodeFrames(
  source: AsyncIterable<ByteChunk>,
  maxFrameBytes: number,
): AsyncGenerator<Uint8Array> {
  let buf: Uint8Array = new Uint8Array(0)
  for await (const raw of source) {
    const chunk = raw instanceof Uint8Array ? raw : raw.subarray()
    if (buf.byteLength === 0) buf = chunk
    else {
      const merged = new Uint8Array(buf.byteLength + chunk.byteLength)
      merged.set(buf, 0)
      merged.set(chunk, buf.byteLength)
      buf = merged
    }
    let offset = 0
    while (buf.byteLength - offset >= FRAME_HEADER_BYTES) {
      const len = new DataView(buf.buffer, buf.byteOffset + offset, FRAME_HEADER_BYTES).getUint32(0, false)
      if (len > maxFrameBytes) {
        throw new PatinaError(
          'PATINA_ERR_MESSAGE_INVALID',
          `stream frame length ${len} exceeds maxFrameBytes ${maxFrameBytes}`,
        )
      }
      if (buf.byteLength - offset - FRAME_HEADER_BYTES < len) break
      const start = offset + FRAME_HEADER_BYTES
      yield buf.slice(start, start + len)
      offset = start + len
    }
    buf = offset === 0 ? buf : buf.slice(offset)
  }
  if (buf.byteLength > 0) {
    throw new PatinaError(
      'PATINA_ERR_MESSAGE_INVALID',
      `stream ended inside a frame (${buf.byteLength} bytes left)`,
    )
  }
}
