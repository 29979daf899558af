// A synchronous SHA-256 of a short ASCII string (a token's signature segment), for the reconnect-storm cache.
//
// Why not a library or WebCrypto: crypto.subtle.digest is asynchronous, a thread-pool round trip on Node
// (~30 µs measured); @noble/hashes took ~4.5 µs and fast-sha256 ~9 µs for an 86-byte input here, more than
// the whole rest of a cache hit. This loop, specialised to one-byte characters and reusing its buffers, takes
// under 2 µs (measured 1.8 µs). Checked against crypto.subtle.digest in test/verifier/sha256.test.ts.

const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
  0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
  0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
  0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
  0xc67178f2,
]);

const W = new Int32Array(64);
const H = new Int32Array(8);

/** The byte at `index` of the padded message: the input, 0x80, zeros, then the bit length (big-endian). */
function paddedByte(input: string, length: number, total: number, index: number): number {
  if (index < length) return input.charCodeAt(index);
  if (index === length) return 0x80;
  const fromEnd = total - index; // 1..8 within the length field
  if (fromEnd > 8) return 0;
  const bits = length * 8;
  // Inputs here are far below 2^29 bytes, so the high four bytes of the 64-bit length are zero.
  return fromEnd > 4 ? 0 : (bits >>> ((fromEnd - 1) * 8)) & 0xff;
}

/**
 * SHA-256 of `input` read as bytes: every UTF-16 code unit must be at most 0xFF (a compact JWS is ASCII).
 * Returns the digest as 64 lowercase hex characters.
 */
export function sha256Latin1(input: string): string {
  const length = input.length;
  const total = ((length + 9 + 63) >>> 6) << 6;
  H[0] = 0x6a09e667;
  H[1] = 0xbb67ae85;
  H[2] = 0x3c6ef372;
  H[3] = 0xa54ff53a;
  H[4] = 0x510e527f;
  H[5] = 0x9b05688c;
  H[6] = 0x1f83d9ab;
  H[7] = 0x5be0cd19;
  for (let block = 0; block < total; block += 64) {
    for (let i = 0; i < 16; i++) {
      const at = block + i * 4;
      W[i] =
        (paddedByte(input, length, total, at) << 24) |
        (paddedByte(input, length, total, at + 1) << 16) |
        (paddedByte(input, length, total, at + 2) << 8) |
        paddedByte(input, length, total, at + 3);
    }
    for (let i = 16; i < 64; i++) {
      const w15 = W[i - 15]!;
      const w2 = W[i - 2]!;
      const s0 = ((w15 >>> 7) | (w15 << 25)) ^ ((w15 >>> 18) | (w15 << 14)) ^ (w15 >>> 3);
      const s1 = ((w2 >>> 17) | (w2 << 15)) ^ ((w2 >>> 19) | (w2 << 13)) ^ (w2 >>> 10);
      W[i] = (W[i - 16]! + s0 + W[i - 7]! + s1) | 0;
    }
    let a: number = H[0]!;
    let b: number = H[1]!;
    let c: number = H[2]!;
    let d: number = H[3]!;
    let e: number = H[4]!;
    let f: number = H[5]!;
    let g: number = H[6]!;
    let h: number = H[7]!;
    for (let i = 0; i < 64; i++) {
      const s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const t1 = (h + s1 + ((e & f) ^ (~e & g)) + K[i]! + W[i]!) | 0;
      const s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const t2 = (s0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      h = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) | 0;
    }
    H[0] = (H[0]! + a) | 0;
    H[1] = (H[1]! + b) | 0;
    H[2] = (H[2]! + c) | 0;
    H[3] = (H[3]! + d) | 0;
    H[4] = (H[4]! + e) | 0;
    H[5] = (H[5]! + f) | 0;
    H[6] = (H[6]! + g) | 0;
    H[7] = (H[7]! + h) | 0;
  }
  let hex = '';
  for (let i = 0; i < 8; i++) hex += (H[i]! >>> 0).toString(16).padStart(8, '0');
  return hex;
}
