import { ClientRequest, request as httpRequest } from "node:http";
import { deflateSync } from "node:zlib";

/** A PCM WAV file of `seconds` of silence (16-bit). */
export function wav(seconds: number, sampleRate = 16000, channels = 1): Buffer {
  const dataBytes = Math.round(seconds * sampleRate) * channels * 2;
  const header = Buffer.alloc(44);
  header.write("RIFF", 0, "latin1");
  header.writeUInt32LE(36 + dataBytes, 4);
  header.write("WAVE", 8, "latin1");
  header.write("fmt ", 12, "latin1");
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(channels, 22);
  header.writeUInt32LE(sampleRate, 24);
  header.writeUInt32LE(sampleRate * channels * 2, 28);
  header.writeUInt16LE(channels * 2, 32);
  header.writeUInt16LE(16, 34);
  header.write("data", 36, "latin1");
  header.writeUInt32LE(dataBytes, 40);
  return Buffer.concat([header, Buffer.alloc(dataBytes)]);
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(data: Buffer): number {
  let c = 0xffffffff;
  for (const byte of data) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([Buffer.from(type, "latin1"), data])));
  return Buffer.concat([length, Buffer.from(type, "latin1"), data, crc]);
}

/** A valid RGB PNG of the given size (black). */
export function png(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const raw = Buffer.alloc((width * 3 + 1) * height);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(raw)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

/**
 * A valid PNG of `bytes` bytes (at least a small one's): the pixels of `png(16, 16)` and a private
 * ancillary chunk (`prVt`, which decoders skip) of filler, for uploads of a given size.
 */
export function paddedPng(bytes: number): Buffer {
  const small = png(16, 16);
  const iend = small.subarray(small.length - 12);
  const filler = Math.max(0, bytes - small.length - 12);
  return Buffer.concat([small.subarray(0, small.length - 12), chunk("prVt", Buffer.alloc(filler, 7)), iend]);
}

/** A JPEG header with a baseline frame of the given size, ending with EOI. */
export function jpeg(width: number, height: number): Buffer {
  const sof = Buffer.from([
    0xff,
    0xc0,
    0x00,
    0x11,
    0x08,
    height >> 8,
    height & 0xff,
    width >> 8,
    width & 0xff,
    0x03,
    1,
    0x22,
    0,
    2,
    0x11,
    1,
    3,
    0x11,
    1,
  ]);
  return Buffer.concat([
    Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10]),
    Buffer.from("JFIF\0\x01\x01\0\0\x01\0\x01\0\0", "latin1"),
    sof,
    Buffer.from([0xff, 0xd9]),
  ]);
}

/** The multipart form the API expects. */
export function form(parts: Record<string, { data: Buffer; type: string; filename?: string }>): FormData {
  const body = new FormData();
  for (const [field, part] of Object.entries(parts)) {
    body.set(field, new Blob([part.data], { type: part.type }), part.filename ?? field);
  }
  return body;
}

/** A multipart/form-data body with a fixed boundary, each part a file (for raw-socket clients). */
export function multipartBody(
  boundary: string,
  parts: { name: string; type: string; data: Buffer }[],
): Buffer {
  return Buffer.concat([
    ...parts.flatMap(({ name, type, data }) => [
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="${name}"; filename="${name}"\r\nContent-Type: ${type}\r\n\r\n`,
      ),
      data,
      Buffer.from("\r\n"),
    ]),
    Buffer.from(`--${boundary}--\r\n`),
  ]);
}

/**
 * A submission (`POST /v1/videos`) of a raw multipart body to the API at `url`, headers only: the
 * caller writes the body (all at once, in pieces, or after `100 Continue`).
 */
export function uploadRequest(
  url: string,
  boundary: string,
  body: Buffer,
  headers: Record<string, string> = {},
): ClientRequest {
  const u = new URL(url);
  return httpRequest({
    host: u.hostname,
    port: u.port,
    path: "/v1/videos",
    method: "POST",
    headers: {
      "content-type": `multipart/form-data; boundary=${boundary}`,
      "content-length": String(body.length),
      ...headers,
    },
  });
}
