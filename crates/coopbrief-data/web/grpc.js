// gRPC-Web over fetch: binary `application/grpc-web+proto`, each message a frame (a flag byte
// and a 4-byte big-endian length), the status in a trailers frame (flag 0x80) — or, for a
// trailers-only answer (a refusal before any message), in the response headers. Server
// streams are read frame by frame from `response.body` as they arrive.

import { Registry } from "./protobuf.js";

/// gRPC status codes by number (the gRPC spec's, not ours).
export const CODES = [
  "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
  "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED",
  "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
];

/// A call that ended with a status other than OK.
export class GrpcError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
    this.codeName = CODES[code] ?? `CODE_${code}`;
  }
}

const FLAG_TRAILERS = 0x80;

/// `grpc-message` is percent-encoded (gRPC over HTTP/2).
function statusMessage(raw) {
  if (!raw) return "";
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/// The trailers frame's text: `name: value` lines.
function parseTrailers(bytes) {
  const out = new Map();
  for (const line of new TextDecoder().decode(bytes).split("\r\n")) {
    const at = line.indexOf(":");
    if (at > 0) out.set(line.slice(0, at).trim().toLowerCase(), line.slice(at + 1).trim());
  }
  return out;
}

function statusOf(get) {
  const code = get("grpc-status");
  if (code === null || code === undefined) return null;
  return { code: Number(code), message: statusMessage(get("grpc-message")) };
}

export class Client {
  /// `token()` gives the bearer token of each call (or nothing: no header).
  constructor(registry, token) {
    this.registry = registry;
    this.token = token;
  }

  static async load(token) {
    const response = await fetch("/descriptor.binpb", { cache: "no-cache" });
    if (!response.ok) throw new Error(`descriptor set: HTTP ${response.status}`);
    return new Client(Registry.fromDescriptorSet(new Uint8Array(await response.arrayBuffer())), token);
  }

  /// One request, one answer.
  async unary(service, method, request, options = {}) {
    let answer;
    for await (const message of this.stream(service, method, request, options)) {
      answer = message;
    }
    if (answer === undefined) throw new GrpcError(13, "the server sent no answer");
    return answer;
  }

  /// One request, the answers as they come (an async iterator); ends at the status, throws a
  /// GrpcError on a status other than OK. `options.signal` aborts the call.
  async *stream(service, method, request, options = {}) {
    const m = this.registry.method(service, method);
    const body = this.registry.encode(m.input, request);
    const frame = new Uint8Array(5 + body.length);
    new DataView(frame.buffer).setUint32(1, body.length, false);
    frame.set(body, 5);
    const headers = {
      "content-type": "application/grpc-web+proto",
      accept: "application/grpc-web+proto",
      "x-grpc-web": "1",
    };
    const token = this.token();
    if (token) headers.authorization = `Bearer ${token}`;
    let response;
    try {
      response = await fetch(`/${service}/${method}`, {
        method: "POST",
        headers,
        body: frame,
        signal: options.signal,
        cache: "no-store",
        credentials: "omit",
      });
    } catch (e) {
      if (e.name === "AbortError") throw e;
      throw new GrpcError(14, `the service cannot be reached (${e.message})`);
    }
    // A trailers-only answer: the status is in the headers.
    const early = statusOf((name) => response.headers.get(name));
    if (early && early.code !== 0) throw new GrpcError(early.code, early.message);
    if (!response.ok) throw new GrpcError(14, `HTTP ${response.status} ${response.statusText}`);
    if (!response.body) throw new GrpcError(13, "the answer has no body");

    const reader = response.body.getReader();
    let buffer = new Uint8Array(0);
    let status = early;
    try {
      for (;;) {
        // Every whole frame in the buffer first.
        while (buffer.length >= 5) {
          const length = new DataView(buffer.buffer, buffer.byteOffset, 5).getUint32(1, false);
          if (buffer.length < 5 + length) break;
          const flag = buffer[0];
          const payload = buffer.subarray(5, 5 + length);
          buffer = buffer.slice(5 + length);
          if (flag & FLAG_TRAILERS) {
            const trailers = parseTrailers(payload);
            status = statusOf((name) => trailers.get(name) ?? null);
          } else {
            yield this.registry.decode(m.output, payload);
          }
        }
        const { done, value } = await reader.read();
        if (done) break;
        const joined = new Uint8Array(buffer.length + value.length);
        joined.set(buffer);
        joined.set(value, buffer.length);
        buffer = joined;
      }
    } finally {
      reader.releaseLock();
    }
    if (!status) throw new GrpcError(13, "the answer ended without a status");
    if (status.code !== 0) throw new GrpcError(status.code, status.message);
  }
}
