// A small protobuf codec driven by the service's own descriptor set (/descriptor.binpb, the
// bytes server reflection serves). No field number of a Coopbrief message is written here:
// the descriptor set is read with descriptor.proto's few stable field numbers, and every
// message is then encoded and decoded by its descriptor.
//
// Values in JavaScript: fields by their proto names (`page_count`); strings; bytes as
// Uint8Array; enums as numbers (names through `enumName`); bool; 32-bit integers and floats as
// Number; 64-bit integers as Number when safe, else BigInt; repeated fields as arrays; map
// fields as plain objects; messages as objects (absent: undefined);
// google.protobuf.Timestamp as Date.

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LEN = 2;
const WIRE_FIXED32 = 5;

// FieldDescriptorProto.Type
const T = {
  DOUBLE: 1, FLOAT: 2, INT64: 3, UINT64: 4, INT32: 5, FIXED64: 6, FIXED32: 7, BOOL: 8,
  STRING: 9, GROUP: 10, MESSAGE: 11, BYTES: 12, UINT32: 13, ENUM: 14, SFIXED32: 15,
  SFIXED64: 16, SINT32: 17, SINT64: 18,
};
const LABEL_REPEATED = 3;
const TIMESTAMP = ".google.protobuf.Timestamp";

const utf8 = new TextDecoder("utf-8");
const toUtf8 = new TextEncoder();

/// Reads the wire format.
class Reader {
  constructor(bytes) {
    this.buf = bytes;
    this.pos = 0;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  done() {
    return this.pos >= this.buf.length;
  }
  varint() {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.buf.length) throw new Error("protobuf: truncated varint");
      const b = this.buf[this.pos++];
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
      if (shift > 63n) throw new Error("protobuf: varint too long");
    }
  }
  bytes() {
    const len = Number(this.varint());
    if (this.pos + len > this.buf.length) throw new Error("protobuf: truncated field");
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }
  fixed32() {
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  fixed64() {
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    return v;
  }
  float() {
    const v = this.view.getFloat32(this.pos, true);
    this.pos += 4;
    return v;
  }
  double() {
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }
  /// The next field's number and wire type.
  tag() {
    const key = Number(this.varint());
    return [key >>> 3, key & 7];
  }
  skip(wire) {
    switch (wire) {
      case WIRE_VARINT: this.varint(); break;
      case WIRE_FIXED64: this.pos += 8; break;
      case WIRE_LEN: this.bytes(); break;
      case WIRE_FIXED32: this.pos += 4; break;
      default: throw new Error(`protobuf: unsupported wire type ${wire}`);
    }
  }
}

/// Writes the wire format.
class Writer {
  constructor() {
    this.parts = [];
    this.length = 0;
  }
  push(bytes) {
    this.parts.push(bytes);
    this.length += bytes.length;
  }
  varint(value) {
    let v = BigInt.asUintN(64, BigInt(value));
    const out = [];
    while (v > 0x7fn) {
      out.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    out.push(Number(v));
    this.push(Uint8Array.from(out));
  }
  tag(number, wire) {
    this.varint((number << 3) | wire);
  }
  lengthDelimited(bytes) {
    this.varint(bytes.length);
    this.push(bytes);
  }
  fixed(size, set) {
    const b = new Uint8Array(size);
    set(new DataView(b.buffer));
    this.push(b);
  }
  finish() {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}

/// 64-bit integers: Number when it is exact, else BigInt.
function int64Value(big) {
  const n = Number(big);
  return Number.isSafeInteger(n) ? n : big;
}

// --- descriptor.proto, read with its own (stable) field numbers ---

function readMessage(bytes, onField) {
  const r = new Reader(bytes);
  while (!r.done()) {
    const [num, wire] = r.tag();
    if (!onField(num, wire, r)) r.skip(wire);
  }
}

function readField(bytes) {
  const f = { name: "", number: 0, label: 1, type: 0, typeName: "", packed: undefined, oneof: undefined, proto3Optional: false };
  readMessage(bytes, (num, wire, r) => {
    switch (num) {
      case 1: f.name = utf8.decode(r.bytes()); return true;
      case 3: f.number = Number(r.varint()); return true;
      case 4: f.label = Number(r.varint()); return true;
      case 5: f.type = Number(r.varint()); return true;
      case 6: f.typeName = utf8.decode(r.bytes()); return true;
      case 8: // FieldOptions: packed = 2
        readMessage(r.bytes(), (n, w, o) => (n === 2 ? ((f.packed = o.varint() !== 0n), true) : false));
        return true;
      case 9: f.oneof = Number(r.varint()); return true;
      case 17: f.proto3Optional = r.varint() !== 0n; return true;
      default: return false;
    }
  });
  return f;
}

function readEnum(bytes, scope, registry) {
  const e = { name: "", values: new Map() };
  readMessage(bytes, (num, wire, r) => {
    if (num === 1) { e.name = utf8.decode(r.bytes()); return true; }
    if (num === 2) {
      let name = "";
      let number = 0;
      readMessage(r.bytes(), (n, w, v) => {
        if (n === 1) { name = utf8.decode(v.bytes()); return true; }
        if (n === 2) { number = Number(BigInt.asIntN(32, v.varint())); return true; }
        return false;
      });
      e.values.set(number, name);
      return true;
    }
    return false;
  });
  registry.enums.set(`${scope}.${e.name}`, e);
}

function readType(bytes, scope, proto3, registry) {
  const m = { name: "", fields: [], mapEntry: false };
  const nested = [];
  const enums = [];
  readMessage(bytes, (num, wire, r) => {
    switch (num) {
      case 1: m.name = utf8.decode(r.bytes()); return true;
      case 2: m.fields.push(readField(r.bytes())); return true;
      case 3: nested.push(r.bytes()); return true;
      case 4: enums.push(r.bytes()); return true;
      case 7: // MessageOptions: map_entry = 7
        readMessage(r.bytes(), (n, w, o) => (n === 7 ? ((m.mapEntry = o.varint() !== 0n), true) : false));
        return true;
      default: return false;
    }
  });
  const full = `${scope}.${m.name}`;
  for (const f of m.fields) {
    // proto3 packs repeated scalars unless told otherwise.
    if (f.packed === undefined) f.packed = proto3;
  }
  m.byNumber = new Map(m.fields.map((f) => [f.number, f]));
  registry.messages.set(full, m);
  for (const n of nested) readType(n, full, proto3, registry);
  for (const e of enums) readEnum(e, full, registry);
}

function readService(bytes, scope, registry) {
  const s = { name: "", methods: new Map() };
  readMessage(bytes, (num, wire, r) => {
    if (num === 1) { s.name = utf8.decode(r.bytes()); return true; }
    if (num === 2) {
      const m = { name: "", input: "", output: "", clientStreaming: false, serverStreaming: false };
      readMessage(r.bytes(), (n, w, v) => {
        switch (n) {
          case 1: m.name = utf8.decode(v.bytes()); return true;
          case 2: m.input = utf8.decode(v.bytes()); return true;
          case 3: m.output = utf8.decode(v.bytes()); return true;
          case 5: m.clientStreaming = v.varint() !== 0n; return true;
          case 6: m.serverStreaming = v.varint() !== 0n; return true;
          default: return false;
        }
      });
      s.methods.set(m.name, m);
      return true;
    }
    return false;
  });
  const full = scope ? `${scope.slice(1)}.${s.name}` : s.name;
  registry.services.set(full, s);
}

/// The messages, enums and services of an encoded FileDescriptorSet.
export class Registry {
  constructor() {
    this.messages = new Map(); // ".pkg.Name" → { name, fields, byNumber, mapEntry }
    this.enums = new Map(); // ".pkg.Name" → { name, values: Map(number → NAME) }
    this.services = new Map(); // "pkg.Service" → { name, methods: Map(name → method) }
  }

  static fromDescriptorSet(bytes) {
    const registry = new Registry();
    readMessage(bytes, (num, wire, r) => {
      if (num !== 1) return false; // FileDescriptorSet.file
      let pkg = "";
      let syntax = "proto2";
      const types = [];
      const enums = [];
      const services = [];
      readMessage(r.bytes(), (n, w, f) => {
        switch (n) {
          case 2: pkg = utf8.decode(f.bytes()); return true;
          case 4: types.push(f.bytes()); return true;
          case 5: enums.push(f.bytes()); return true;
          case 6: services.push(f.bytes()); return true;
          case 12: syntax = utf8.decode(f.bytes()); return true;
          default: return false;
        }
      });
      const scope = pkg ? `.${pkg}` : "";
      for (const t of types) readType(t, scope, syntax === "proto3", registry);
      for (const e of enums) readEnum(e, scope, registry);
      for (const s of services) readService(s, scope, registry);
      return true;
    });
    return registry;
  }

  /// A method of a service: `method("coopbrief.v1.ReportService", "GetReport")`.
  method(service, name) {
    const m = this.services.get(service)?.methods.get(name);
    if (!m) throw new Error(`no method ${service}/${name} in the descriptor set`);
    return m;
  }

  /// The values of an enum, in order: [[number, NAME], …].
  enumValues(type) {
    return [...(this.enums.get(type)?.values ?? new Map())].sort((a, b) => a[0] - b[0]);
  }

  enumName(type, number) {
    return this.enums.get(type)?.values.get(number) ?? String(number);
  }

  // --- decoding ---

  decode(type, bytes) {
    if (type === TIMESTAMP) return decodeTimestamp(bytes);
    const desc = this.messages.get(type);
    const out = {};
    if (!desc) return out; // an unknown type (google.protobuf.Empty): nothing to read
    for (const f of desc.fields) {
      if (f.label === LABEL_REPEATED) out[f.name] = this.isMap(f) ? {} : [];
      else if (f.oneof === undefined && !f.proto3Optional && f.type !== T.MESSAGE) out[f.name] = defaultOf(f.type);
    }
    const r = new Reader(bytes);
    while (!r.done()) {
      const [num, wire] = r.tag();
      const f = desc.byNumber.get(num);
      if (!f) {
        r.skip(wire);
        continue;
      }
      if (f.label === LABEL_REPEATED && this.isMap(f)) {
        const entry = this.decode(f.typeName, r.bytes());
        out[f.name][String(entry.key)] = entry.value;
      } else if (f.label === LABEL_REPEATED) {
        if (wire === WIRE_LEN && isPackable(f.type)) {
          const packed = new Reader(r.bytes());
          while (!packed.done()) out[f.name].push(this.scalar(f, packed));
        } else {
          out[f.name].push(this.value(f, r));
        }
      } else {
        out[f.name] = this.value(f, r);
      }
    }
    return out;
  }

  isMap(f) {
    return f.type === T.MESSAGE && this.messages.get(f.typeName)?.mapEntry === true;
  }

  value(f, r) {
    switch (f.type) {
      case T.STRING: return utf8.decode(r.bytes());
      case T.BYTES: return r.bytes().slice();
      case T.MESSAGE: return this.decode(f.typeName, r.bytes());
      case T.GROUP: throw new Error("protobuf: groups are not supported");
      default: return this.scalar(f, r);
    }
  }

  scalar(f, r) {
    switch (f.type) {
      case T.DOUBLE: return r.double();
      case T.FLOAT: return r.float();
      case T.INT64: return int64Value(BigInt.asIntN(64, r.varint()));
      case T.UINT64: return int64Value(r.varint());
      case T.INT32: return Number(BigInt.asIntN(32, r.varint()));
      case T.UINT32: return Number(BigInt.asUintN(32, r.varint()));
      case T.ENUM: return Number(BigInt.asIntN(32, r.varint()));
      case T.BOOL: return r.varint() !== 0n;
      case T.SINT32:
      case T.SINT64: {
        const v = r.varint();
        const n = (v >> 1n) ^ -(v & 1n);
        return f.type === T.SINT32 ? Number(n) : int64Value(n);
      }
      case T.FIXED32: return r.fixed32();
      case T.SFIXED32: return r.fixed32() | 0;
      case T.FIXED64: return int64Value(r.fixed64());
      case T.SFIXED64: return int64Value(BigInt.asIntN(64, r.fixed64()));
      default: throw new Error(`protobuf: unknown field type ${f.type}`);
    }
  }

  // --- encoding ---

  encode(type, value) {
    if (type === TIMESTAMP) return encodeTimestamp(value);
    const desc = this.messages.get(type);
    if (!desc) throw new Error(`no message ${type} in the descriptor set`);
    const w = new Writer();
    for (const f of desc.fields) {
      const v = value?.[f.name];
      if (v === undefined || v === null) continue;
      if (f.label === LABEL_REPEATED && this.isMap(f)) {
        for (const [key, item] of Object.entries(v)) {
          w.tag(f.number, WIRE_LEN);
          w.lengthDelimited(this.encode(f.typeName, { key, value: item }));
        }
      } else if (f.label === LABEL_REPEATED) {
        if (v.length === 0) continue;
        if (f.packed && isPackable(f.type)) {
          const inner = new Writer();
          for (const item of v) writeScalar(inner, f.type, item);
          w.tag(f.number, WIRE_LEN);
          w.lengthDelimited(inner.finish());
        } else {
          for (const item of v) this.writeField(w, f, item);
        }
      } else {
        // proto3: a default scalar is not sent, unless the field has presence.
        const presence = f.oneof !== undefined || f.proto3Optional || f.type === T.MESSAGE;
        if (!presence && isDefault(f.type, v)) continue;
        this.writeField(w, f, v);
      }
    }
    return w.finish();
  }

  writeField(w, f, v) {
    switch (f.type) {
      case T.STRING:
        w.tag(f.number, WIRE_LEN);
        w.lengthDelimited(toUtf8.encode(String(v)));
        return;
      case T.BYTES:
        w.tag(f.number, WIRE_LEN);
        w.lengthDelimited(v);
        return;
      case T.MESSAGE:
        w.tag(f.number, WIRE_LEN);
        w.lengthDelimited(this.encode(f.typeName, v));
        return;
      default:
        w.tag(f.number, wireOf(f.type));
        writeScalar(w, f.type, v);
    }
  }
}

function isPackable(type) {
  return type !== T.STRING && type !== T.BYTES && type !== T.MESSAGE && type !== T.GROUP;
}

function wireOf(type) {
  switch (type) {
    case T.DOUBLE: case T.FIXED64: case T.SFIXED64: return WIRE_FIXED64;
    case T.FLOAT: case T.FIXED32: case T.SFIXED32: return WIRE_FIXED32;
    default: return WIRE_VARINT;
  }
}

function writeScalar(w, type, v) {
  switch (type) {
    case T.DOUBLE: return w.fixed(8, (d) => d.setFloat64(0, Number(v), true));
    case T.FLOAT: return w.fixed(4, (d) => d.setFloat32(0, Number(v), true));
    case T.FIXED32: return w.fixed(4, (d) => d.setUint32(0, Number(v), true));
    case T.SFIXED32: return w.fixed(4, (d) => d.setInt32(0, Number(v), true));
    case T.FIXED64: return w.fixed(8, (d) => d.setBigUint64(0, BigInt(v), true));
    case T.SFIXED64: return w.fixed(8, (d) => d.setBigInt64(0, BigInt(v), true));
    case T.BOOL: return w.varint(v ? 1 : 0);
    case T.SINT32: case T.SINT64: {
      const n = BigInt(v);
      return w.varint(n >= 0n ? n << 1n : ((-n) << 1n) - 1n);
    }
    default: return w.varint(v); // int32/64, uint32/64, enum (negative: ten bytes)
  }
}

function defaultOf(type) {
  switch (type) {
    case T.STRING: return "";
    case T.BYTES: return new Uint8Array(0);
    case T.BOOL: return false;
    default: return 0;
  }
}

function isDefault(type, v) {
  switch (type) {
    case T.STRING: return v === "";
    case T.BYTES: return v.length === 0;
    case T.BOOL: return v === false;
    default: return v === 0 || v === 0n;
  }
}

// google.protobuf.Timestamp { int64 seconds = 1; int32 nanos = 2; } ↔ Date.
function decodeTimestamp(bytes) {
  let seconds = 0n;
  let nanos = 0;
  readMessage(bytes, (num, wire, r) => {
    if (num === 1) { seconds = BigInt.asIntN(64, r.varint()); return true; }
    if (num === 2) { nanos = Number(BigInt.asIntN(32, r.varint())); return true; }
    return false;
  });
  return new Date(Number(seconds) * 1000 + Math.floor(nanos / 1e6));
}

function encodeTimestamp(date) {
  const ms = date.getTime();
  const seconds = Math.floor(ms / 1000);
  const w = new Writer();
  if (seconds !== 0) {
    w.tag(1, WIRE_VARINT);
    w.varint(seconds);
  }
  const nanos = (ms - seconds * 1000) * 1e6;
  if (nanos !== 0) {
    w.tag(2, WIRE_VARINT);
    w.varint(nanos);
  }
  return w.finish();
}
