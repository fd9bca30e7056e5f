/**
 * Queued remote-write payloads are RW 1.0 `prometheus.WriteRequest` bytes (+ optional MetricMetadata):
 * protocol-neutral, mergeable by concatenation, and sendable as is to a 1.0 receiver. This file turns
 * them into what goes on the wire:
 *
 * - `stripMetadata`: the 1.0 spec reserves field 3, so metadata is removed for 1.0 receivers;
 * - `toV2`: an `io.prometheus.write.v2.Request` (symbols table + label refs; samples copied verbatim,
 *   the Sample message is identical in both versions; metadata type/help/unit per series from the
 *   family's MetricMetadata).
 */
import { ProtoReader, ProtoWriter, WIRE_LEN } from '../../internal/protobuf.js';

/** WriteRequest bytes with only the timeseries (field 1) kept. Returns the input when there is no metadata. */
export function stripMetadata(v1: Buffer): Buffer {
  const r = new ProtoReader(v1);
  const keep: Array<[number, number]> = [];
  let dropped = false;
  while (!r.done) {
    const start = r.pos;
    const { field, wire } = r.tag();
    r.skip(wire);
    if (field === 1) {
      const last = keep[keep.length - 1];
      if (last && last[1] === start) last[1] = r.pos;
      else keep.push([start, r.pos]);
    } else {
      dropped = true;
    }
  }
  if (!dropped) return v1;
  return Buffer.concat(keep.map(([s, e]) => v1.subarray(s, e)));
}

interface Meta {
  type: number;
  help: string;
  unit: string;
}

/** RW 2.0 request from RW 1.0 bytes. `samples` counts the samples it carries. */
export function toV2(v1: Buffer): { data: Buffer; samples: number; series: number } {
  const meta = new Map<string, Meta>();
  // First pass: metadata (field 3: type=1, metric_family_name=2, help=4, unit=5).
  const r0 = new ProtoReader(v1);
  while (!r0.done) {
    const { field, wire } = r0.tag();
    if (field !== 3 || wire !== WIRE_LEN) {
      r0.skip(wire);
      continue;
    }
    const [s, e] = r0.lenRange();
    const m = new ProtoReader(v1, s, e);
    const md: Meta = { type: 0, help: '', unit: '' };
    let name = '';
    while (!m.done) {
      const t = m.tag();
      if (t.field === 1) md.type = m.varint();
      else if (t.field === 2) name = m.string();
      else if (t.field === 4) md.help = m.string();
      else if (t.field === 5) md.unit = m.string();
      else m.skip(t.wire);
    }
    if (name) meta.set(name, md);
  }

  const symbols = new Map<string, number>([['', 0]]);
  const symbolList: string[] = [''];
  const sym = (s: string): number => {
    let i = symbols.get(s);
    if (i === undefined) {
      i = symbolList.length;
      symbols.set(s, i);
      symbolList.push(s);
    }
    return i;
  };
  const ts = new ProtoWriter(v1.length + 1024);
  let samples = 0;
  let series = 0;
  const refs: number[] = [];
  const r = new ProtoReader(v1);
  while (!r.done) {
    const { field, wire } = r.tag();
    if (field !== 1 || wire !== WIRE_LEN) {
      r.skip(wire);
      continue;
    }
    const [s, e] = r.lenRange();
    const t = new ProtoReader(v1, s, e);
    refs.length = 0;
    const sampleRanges: Array<[number, number]> = [];
    let name = '';
    while (!t.done) {
      const f = t.tag();
      if (f.field === 1 && f.wire === WIRE_LEN) {
        const [ls, le] = t.lenRange();
        const l = new ProtoReader(v1, ls, le);
        let k = '';
        let v = '';
        while (!l.done) {
          const lt = l.tag();
          if (lt.field === 1) k = l.string();
          else if (lt.field === 2) v = l.string();
          else l.skip(lt.wire);
        }
        if (k === '__name__') name = v;
        refs.push(sym(k), sym(v));
      } else if (f.field === 2 && f.wire === WIRE_LEN) {
        sampleRanges.push(t.lenRange());
      } else {
        t.skip(f.wire);
      }
    }
    series++;
    samples += sampleRanges.length;
    const outer = ts.beginLen(5, 4);
    // labels_refs = 1, packed uint32
    const packed = ts.beginLen(1, 3);
    for (const ref of refs) ts.varint(ref);
    ts.endLen(packed);
    for (const [ss, se] of sampleRanges) ts.bytesField(2, v1.subarray(ss, se));
    const md = meta.get(name) ?? meta.get(name.replace(/_(bucket|sum|count)$/, ''));
    if (md) {
      const m = ts.beginLen(5, 2);
      ts.tag(1, 0);
      ts.varint(md.type);
      if (md.help) { ts.tag(3, 0); ts.varint(sym(md.help)); }
      if (md.unit) { ts.tag(4, 0); ts.varint(sym(md.unit)); }
      ts.endLen(m);
    }
    ts.endLen(outer);
  }
  const out = new ProtoWriter(ts.pos + symbolList.length * 16 + 64);
  for (const s of symbolList) out.string(4, s);
  out.raw(ts.buf.subarray(0, ts.pos));
  return { data: out.finish(), samples, series };
}
