/**
 * Pixel sizes read from the first bytes of an image, with no image library: the prompt estimate
 * needs only width and height, and every format OpenAI accepts for vision (PNG, JPEG, WebP,
 * non-animated GIF: https://platform.openai.com/docs/guides/images-vision, "Image input
 * requirements") stores them in a fixed header. Anything that does not parse is `undefined`, and
 * the caller reserves its worst case; nothing here throws on hostile bytes.
 */

export type ImageFormat = 'png' | 'jpeg' | 'gif' | 'webp';

export interface ImageSize {
  readonly format: ImageFormat;
  readonly width: number;
  readonly height: number;
}

/**
 * The bytes of a base64 `data:` URL (`data:<type>[;params];base64,<payload>`, RFC 2397), or
 * `undefined` for any other URL. The declared media type is not trusted: formats are sniffed.
 */
export function dataUrlBytes(url: string): Buffer | undefined {
  if (!url.startsWith('data:')) return undefined;
  const comma = url.indexOf(',');
  if (comma < 0) return undefined;
  const params = url.slice(5, comma).split(';');
  if (!params.includes('base64')) return undefined;
  const payload = url.slice(comma + 1);
  // Buffer skips characters outside the alphabet instead of throwing; a payload that is not
  // base64 at all decodes to bytes that match no header below.
  return Buffer.from(payload, 'base64');
}

/** Width and height from a PNG, JPEG, GIF or WebP header; `undefined` when the bytes are none of these. */
export function readImageSize(bytes: Uint8Array): ImageSize | undefined {
  const size = readPng(bytes) ?? readGif(bytes) ?? readWebp(bytes) ?? readJpeg(bytes);
  // A zero side is a corrupt header (no format allows it): report nothing rather than a free image.
  return size && size.width > 0 && size.height > 0 ? size : undefined;
}

/** Width and height of the image in a base64 `data:` URL, if it is one and it parses. */
export function imageSizeFromDataUrl(url: string): ImageSize | undefined {
  const bytes = dataUrlBytes(url);
  return bytes ? readImageSize(bytes) : undefined;
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** PNG (ISO/IEC 15948 §5.2, §11.2.2): the 8-byte signature, then IHDR, whose data opens with width and height (u32 BE). */
function readPng(b: Uint8Array): ImageSize | undefined {
  if (b.length < 24 || !PNG_SIGNATURE.every((v, i) => b[i] === v)) return undefined;
  if (ascii(b, 12, 4) !== 'IHDR') return undefined;
  return { format: 'png', width: u32be(b, 16), height: u32be(b, 20) };
}

/** GIF87a/89a: "GIF8?a", then the logical screen width and height (u16 LE). */
function readGif(b: Uint8Array): ImageSize | undefined {
  if (b.length < 10) return undefined;
  const signature = ascii(b, 0, 6);
  if (signature !== 'GIF87a' && signature !== 'GIF89a') return undefined;
  return { format: 'gif', width: u16le(b, 6), height: u16le(b, 8) };
}

/**
 * WebP (RFC 9649): "RIFF" size "WEBP", then the first chunk says which header follows:
 * VP8X (extended) stores canvas width-1 and height-1 as u24 LE at 24 and 27; VP8L (lossless)
 * packs width-1 and height-1 in 14 bits each after the 0x2f signature byte at 20; VP8 (lossy)
 * has a 3-byte frame tag, the start code 9d 01 2a, then width and height in the low 14 bits of
 * two u16 LE (the top 2 bits are an upscaling hint, not part of the size).
 */
function readWebp(b: Uint8Array): ImageSize | undefined {
  if (b.length < 30 || ascii(b, 0, 4) !== 'RIFF' || ascii(b, 8, 4) !== 'WEBP') return undefined;
  const chunk = ascii(b, 12, 4);
  if (chunk === 'VP8X') {
    return { format: 'webp', width: u24le(b, 24) + 1, height: u24le(b, 27) + 1 };
  }
  if (chunk === 'VP8L') {
    if (b[20] !== 0x2f) return undefined;
    const bits = u32le(b, 21);
    return { format: 'webp', width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
  }
  if (chunk === 'VP8 ') {
    if (b[23] !== 0x9d || b[24] !== 0x01 || b[25] !== 0x2a) return undefined;
    return { format: 'webp', width: u16le(b, 26) & 0x3fff, height: u16le(b, 28) & 0x3fff };
  }
  return undefined;
}

/**
 * JPEG (ITU T.81 Annex B): walk the marker segments after SOI until a start-of-frame marker
 * (SOF0..SOF15 except DHT C4, JPG C8 and DAC CC), whose segment holds precision (1 byte), then
 * height and width (u16 BE). EXIF orientation is ignored: both token rules are symmetric in width
 * and height, so a rotated image costs the same.
 */
function readJpeg(b: Uint8Array): ImageSize | undefined {
  if (b.length < 4 || b[0] !== 0xff || b[1] !== 0xd8) return undefined;
  let i = 2;
  while (i + 3 < b.length) {
    if (b[i] !== 0xff) return undefined; // lost sync: not a marker where one must be
    const marker = b[i + 1] ?? 0;
    if (marker === 0xff) {
      i += 1; // fill byte before a marker
      continue;
    }
    // Markers without a length: TEM, RST0..RST7 (and a stray SOI).
    if (marker === 0x01 || marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7)) {
      i += 2;
      continue;
    }
    if (marker === 0xd9 || marker === 0xda) return undefined; // EOI or SOS before any frame header
    const length = u16be(b, i + 2);
    if (length < 2) return undefined;
    const isFrame = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isFrame) {
      if (i + 9 > b.length) return undefined;
      return { format: 'jpeg', height: u16be(b, i + 5), width: u16be(b, i + 7) };
    }
    i += 2 + length;
  }
  return undefined;
}

function ascii(b: Uint8Array, at: number, length: number): string {
  let s = '';
  for (let i = at; i < at + length; i++) s += String.fromCharCode(b[i] ?? 0);
  return s;
}

function u16le(b: Uint8Array, at: number): number {
  return (b[at] ?? 0) | ((b[at + 1] ?? 0) << 8);
}

function u16be(b: Uint8Array, at: number): number {
  return ((b[at] ?? 0) << 8) | (b[at + 1] ?? 0);
}

function u24le(b: Uint8Array, at: number): number {
  return u16le(b, at) | ((b[at + 2] ?? 0) << 16);
}

function u32le(b: Uint8Array, at: number): number {
  return (u24le(b, at) | ((b[at + 3] ?? 0) << 24)) >>> 0;
}

function u32be(b: Uint8Array, at: number): number {
  return (((b[at] ?? 0) << 24) | ((b[at + 1] ?? 0) << 16) | ((b[at + 2] ?? 0) << 8) | (b[at + 3] ?? 0)) >>> 0;
}
