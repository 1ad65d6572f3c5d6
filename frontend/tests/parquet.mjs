// A parquet file written by hand, for the batch test's metadata: one row
// group, one plain uncompressed data page per column, every column
// required, strings (UTF-8 byte arrays) or 64-bit integers. Enough of
// the format (https://parquet.apache.org/docs/file-format/) for a reader
// to take. Written by hand because the locked npm set has no parquet
// writer and none can be fetched here; it is test-only.

/** Thrift's compact protocol types. */
const T = { I32: 5, I64: 6, BINARY: 8, LIST: 9, STRUCT: 12 };

/** Parquet's enums, as far as used here. */
const INT64 = 2;
const BYTE_ARRAY = 6;
const REQUIRED = 0;
const UTF8 = 0;
const PLAIN = 0;
const RLE = 3;
const UNCOMPRESSED = 0;
const DATA_PAGE = 0;

class Out {
  bytes = [];
  byte(b) {
    this.bytes.push(b & 0xff);
  }
  varint(n) {
    let v = BigInt(n);
    do {
      let b = Number(v & 0x7fn);
      v >>= 7n;
      if (v > 0n) b |= 0x80;
      this.byte(b);
    } while (v > 0n);
  }
  zigzag(n) {
    const v = BigInt(n);
    this.varint(v >= 0n ? v << 1n : ((-v) << 1n) - 1n);
  }
  raw(buf) {
    for (const b of buf) this.byte(b);
  }
}

/**
 * Writes a thrift struct in the compact protocol: `fields` are
 * `[id, type, value]` in increasing id order; a struct's value is its own
 * fields, a list's `{ type, items }`.
 */
function struct(out, fields) {
  let last = 0;
  for (const [id, type, value] of fields) {
    if (value === undefined) continue;
    out.byte(((id - last) << 4) | type);
    last = id;
    put(out, type, value);
  }
  out.byte(0);
}

function put(out, type, value) {
  switch (type) {
    case T.I32:
    case T.I64:
      return out.zigzag(value);
    case T.BINARY: {
      const b = typeof value === "string" ? Buffer.from(value, "utf8") : value;
      out.varint(b.length);
      return out.raw(b);
    }
    case T.LIST: {
      const n = value.items.length;
      if (n < 15) out.byte((n << 4) | value.type);
      else {
        out.byte(0xf0 | value.type);
        out.varint(n);
      }
      for (const item of value.items) put(out, value.type, item);
      return;
    }
    case T.STRUCT:
      return struct(out, value);
    default:
      throw new Error(`thrift type ${type} is not written here`);
  }
}

function thrift(fields) {
  const out = new Out();
  struct(out, fields);
  return Buffer.from(out.bytes);
}

/** A column's values, PLAIN-encoded. */
function plain(values, isString) {
  const parts = values.map((v) => {
    if (isString) {
      const s = Buffer.from(String(v), "utf8");
      const len = Buffer.alloc(4);
      len.writeUInt32LE(s.length);
      return Buffer.concat([len, s]);
    }
    const b = Buffer.alloc(8);
    b.writeBigInt64LE(BigInt(v));
    return b;
  });
  return Buffer.concat(parts);
}

/**
 * A parquet file of `columns` (name to values, all of one length): a
 * column of numbers is INT64, any other a UTF-8 string.
 */
export function parquet(columns) {
  const names = Object.keys(columns);
  const rows = columns[names[0]].length;
  const chunks = [Buffer.from("PAR1")];
  let offset = 4;
  const metas = [];
  for (const name of names) {
    const values = columns[name];
    const isString = values.some((v) => typeof v !== "number");
    const data = plain(values, isString);
    const header = thrift([
      [1, T.I32, DATA_PAGE],
      [2, T.I32, data.length],
      [3, T.I32, data.length],
      [5, T.STRUCT, [
        [1, T.I32, rows],
        [2, T.I32, PLAIN],
        [3, T.I32, RLE],
        [4, T.I32, RLE],
      ]],
    ]);
    const size = header.length + data.length;
    metas.push({ name, isString, offset, size });
    chunks.push(header, data);
    offset += size;
  }
  const schema = [
    [[4, T.BINARY, "schema"], [5, T.I32, names.length]],
    ...metas.map((m) => [
      [1, T.I32, m.isString ? BYTE_ARRAY : INT64],
      [3, T.I32, REQUIRED],
      [4, T.BINARY, m.name],
      [6, T.I32, m.isString ? UTF8 : undefined],
    ]),
  ];
  const footer = thrift([
    [1, T.I32, 1],
    [2, T.LIST, { type: T.STRUCT, items: schema }],
    [3, T.I64, rows],
    [4, T.LIST, {
      type: T.STRUCT,
      items: [[
        [1, T.LIST, {
          type: T.STRUCT,
          items: metas.map((m) => [
            [2, T.I64, m.offset],
            [3, T.STRUCT, [
              [1, T.I32, m.isString ? BYTE_ARRAY : INT64],
              [2, T.LIST, { type: T.I32, items: [PLAIN, RLE] }],
              [3, T.LIST, { type: T.BINARY, items: [m.name] }],
              [4, T.I32, UNCOMPRESSED],
              [5, T.I64, rows],
              [6, T.I64, m.size],
              [7, T.I64, m.size],
              [9, T.I64, m.offset],
            ]],
          ]),
        }],
        [2, T.I64, metas.reduce((n, m) => n + m.size, 0)],
        [3, T.I64, rows],
      ]],
    }],
    [6, T.BINARY, "cutroom browser tests"],
  ]);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(footer.length);
  chunks.push(footer, len, Buffer.from("PAR1"));
  return Buffer.concat(chunks);
}
