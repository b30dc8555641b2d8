import { WaveFile } from "wavefile";
import type { DecodeFailureReason } from "../../contract/metrics";

/** What decoding the uploaded audio established. */
export interface DecodedAudio {
  durationSeconds: number;
  sampleRate: number;
  channels: number;
  format: "wav";
}

/** Audio that cannot be used, with one reason of the metric contract's closed set. */
export class AudioDecodeError extends Error {
  constructor(
    public readonly reason: DecodeFailureReason,
    message: string,
  ) {
    super(message);
    this.name = "AudioDecodeError";
  }
}

/** Containers we recognise but do not decode: named in the error so the client knows what to send. */
const OTHER_FORMATS: [string, (b: Buffer) => boolean][] = [
  ["MP3", (b) => b.subarray(0, 3).toString("latin1") === "ID3" || (b[0] === 0xff && (b[1] & 0xe0) === 0xe0)],
  ["FLAC", (b) => b.subarray(0, 4).toString("latin1") === "fLaC"],
  ["Ogg", (b) => b.subarray(0, 4).toString("latin1") === "OggS"],
  ["MP4/M4A", (b) => b.subarray(4, 8).toString("latin1") === "ftyp"],
];

/** WAVE format tags that hold plain samples: PCM integer and IEEE float. */
const PCM_FORMATS = new Set([1, 3, 65534]);

/**
 * Decodes a WAV (PCM or float) upload's header with `wavefile` and checks the samples it announces are
 * all present and not too long.
 * Every failure maps to one closed-set reason: empty, truncated, corrupt, unsupported_format, too_long.
 */
export function decodeAudio(data: Buffer, maxSeconds: number): DecodedAudio {
  if (data.length === 0) throw new AudioDecodeError("empty", "audio is empty (0 bytes)");
  const other = OTHER_FORMATS.find(([, test]) => test(data));
  if (other)
    throw new AudioDecodeError("unsupported_format", `audio is ${other[0]}; send WAV (PCM or float)`);
  if (
    data.subarray(0, 4).toString("latin1") !== "RIFF" ||
    data.subarray(8, 12).toString("latin1") !== "WAVE"
  ) {
    throw new AudioDecodeError(data.length < 12 ? "truncated" : "corrupt", "audio is not a RIFF/WAVE file");
  }
  let wav: WaveFile;
  try {
    wav = new WaveFile(data);
  } catch (err) {
    throw new AudioDecodeError(
      data.length < 44 ? "truncated" : "corrupt",
      `audio header is unreadable: ${(err as Error).message}`,
    );
  }
  const fmt = wav.fmt as {
    audioFormat: number;
    numChannels: number;
    sampleRate: number;
    bitsPerSample: number;
  };
  if (!PCM_FORMATS.has(fmt.audioFormat)) {
    throw new AudioDecodeError(
      "unsupported_format",
      `WAV audio format tag ${fmt.audioFormat} is not PCM or float`,
    );
  }
  if (
    fmt.numChannels < 1 ||
    fmt.numChannels > 8 ||
    fmt.sampleRate < 8000 ||
    fmt.sampleRate > 192000 ||
    ![8, 16, 24, 32, 64].includes(fmt.bitsPerSample)
  ) {
    throw new AudioDecodeError(
      "corrupt",
      `WAV header is implausible: ${fmt.numChannels} channels, ${fmt.sampleRate} Hz, ${fmt.bitsPerSample} bits`,
    );
  }
  const declared = (wav.data as { chunkSize: number }).chunkSize;
  const frameBytes = (fmt.numChannels * fmt.bitsPerSample) / 8;
  const declaredSeconds = declared / frameBytes / fmt.sampleRate;
  // Refuse before decoding: a long file would otherwise be decoded into memory only to be rejected.
  if (declaredSeconds > maxSeconds) {
    throw new AudioDecodeError(
      "too_long",
      `audio lasts ${declaredSeconds.toFixed(1)}s; the limit is ${maxSeconds}s`,
    );
  }
  // PCM needs no decompression: every whole frame of bytes is a valid sample frame, so the decode
  // is reading the header (above) and counting the frames actually present. Converting every sample
  // to floats would cost ~1 ms per second of audio and prove nothing more.
  const present = (wav.data as { samples: Uint8Array }).samples.length;
  const frames = Math.floor(present / frameBytes);
  if (present < declared) {
    throw new AudioDecodeError(
      "truncated",
      `audio is truncated: the header announces ${declared} bytes of samples, the upload holds ${present}`,
    );
  }
  if (frames === 0) throw new AudioDecodeError("empty", "audio holds no samples");
  return {
    durationSeconds: frames / fmt.sampleRate,
    sampleRate: fmt.sampleRate,
    channels: fmt.numChannels,
    format: "wav",
  };
}
