import { imageSize } from "image-size";

export interface CheckedImage {
  type: "png" | "jpg";
  width: number;
  height: number;
}

/** Thrown for portraits that are not usable PNG/JPEG images within limits. */
export class ImageCheckError extends Error {}

const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/**
 * Checks the portrait is a real PNG or JPEG (magic bytes and a readable header, via `image-size`)
 * within the side and pixel limits, and not cut short.
 */
export function checkImage(data: Buffer, limits: { maxSide: number; maxPixels: number }): CheckedImage {
  if (data.length === 0) throw new ImageCheckError("image is empty (0 bytes)");
  const isPng = data.subarray(0, 8).equals(PNG_MAGIC);
  const isJpeg = data[0] === 0xff && data[1] === 0xd8 && data[2] === 0xff;
  if (!isPng && !isJpeg) throw new ImageCheckError("image is neither PNG nor JPEG");
  let size: { width?: number; height?: number; type?: string };
  try {
    size = imageSize(data);
  } catch (err) {
    throw new ImageCheckError(`image header is unreadable: ${(err as Error).message}`);
  }
  const { width = 0, height = 0 } = size;
  if (width < 1 || height < 1) throw new ImageCheckError(`image has no size (${width}x${height})`);
  if (width > limits.maxSide || height > limits.maxSide || width * height > limits.maxPixels) {
    throw new ImageCheckError(
      `image is ${width}x${height}; the limit is ${limits.maxSide} per side and ${limits.maxPixels} pixels`,
    );
  }
  // A PNG ends with an IEND chunk, a JPEG with the EOI marker: their absence means a cut-off upload.
  const whole = isPng
    ? data.subarray(-8, -4).toString("latin1") === "IEND"
    : data[data.length - 2] === 0xff && data[data.length - 1] === 0xd9;
  if (!whole) throw new ImageCheckError("image is truncated (no end marker)");
  return { type: isPng ? "png" : "jpg", width, height };
}
