// Decoders for remote-write requests (tests and the fake 2.0 receiver): RW 1.0 prometheus.WriteRequest
// and RW 2.0 io.prometheus.write.v2.Request, into one shape with labels resolved.
import { ProtoReader } from '../../src/internal/protobuf.js';

export interface DecodedSeries {
  labels: Record<string, string>;
  /** Label names in wire order (to check sorting). */
  order: string[];
  samples: Array<{ value: number; timestamp: number }>;
  metadata?: { type: number; help: string; unit: string };
}

function samples(r: ProtoReader): { value: number; timestamp: number } {
  let value = 0;
  let timestamp = 0;
  while (!r.done) {
    const t = r.tag();
    if (t.field === 1) value = r.double();
    else if (t.field === 2) timestamp = r.int64();
    else r.skip(t.wire);
  }
  return { value, timestamp };
}

export function decodeV1(buf: Uint8Array): { series: DecodedSeries[]; metadata: Array<{ type: number; name: string; help: string; unit: string }> } {
  const series: DecodedSeries[] = [];
  const metadata: Array<{ type: number; name: string; help: string; unit: string }> = [];
  const r = new ProtoReader(buf);
  while (!r.done) {
    const { field, wire } = r.tag();
    if (field === 1) {
      const [s, e] = r.lenRange();
      const t = new ProtoReader(buf, s, e);
      const out: DecodedSeries = { labels: {}, order: [], samples: [] };
      while (!t.done) {
        const f = t.tag();
        if (f.field === 1) {
          const [ls, le] = t.lenRange();
          const l = new ProtoReader(buf, ls, le);
          let k = '';
          let v = '';
          while (!l.done) {
            const lt = l.tag();
            if (lt.field === 1) k = l.string();
            else if (lt.field === 2) v = l.string();
            else l.skip(lt.wire);
          }
          out.labels[k] = v;
          out.order.push(k);
        } else if (f.field === 2) {
          const [ss, se] = t.lenRange();
          out.samples.push(samples(new ProtoReader(buf, ss, se)));
        } else t.skip(f.wire);
      }
      series.push(out);
    } else if (field === 3) {
      const [s, e] = r.lenRange();
      const m = new ProtoReader(buf, s, e);
      const md = { type: 0, name: '', help: '', unit: '' };
      while (!m.done) {
        const t = m.tag();
        if (t.field === 1) md.type = m.varint();
        else if (t.field === 2) md.name = m.string();
        else if (t.field === 4) md.help = m.string();
        else if (t.field === 5) md.unit = m.string();
        else m.skip(t.wire);
      }
      metadata.push(md);
    } else r.skip(wire);
  }
  return { series, metadata };
}

export function decodeV2(buf: Uint8Array): { symbols: string[]; series: DecodedSeries[] } {
  const symbols: string[] = [];
  const raw: Array<[number, number]> = [];
  const r = new ProtoReader(buf);
  while (!r.done) {
    const { field, wire } = r.tag();
    if (field === 4) symbols.push(r.string());
    else if (field === 5) raw.push(r.lenRange());
    else r.skip(wire);
  }
  const series = raw.map(([s, e]) => {
    const t = new ProtoReader(buf, s, e);
    const out: DecodedSeries = { labels: {}, order: [], samples: [] };
    while (!t.done) {
      const f = t.tag();
      if (f.field === 1) {
        const [ps, pe] = t.lenRange();
        const p = new ProtoReader(buf, ps, pe);
        while (!p.done) {
          const k = symbols[p.varint()];
          const v = symbols[p.varint()];
          out.labels[k] = v;
          out.order.push(k);
        }
      } else if (f.field === 2) {
        const [ss, se] = t.lenRange();
        out.samples.push(samples(new ProtoReader(buf, ss, se)));
      } else if (f.field === 5) {
        const [ms, me] = t.lenRange();
        const m = new ProtoReader(buf, ms, me);
        const md = { type: 0, help: '', unit: '' };
        while (!m.done) {
          const mt = m.tag();
          if (mt.field === 1) md.type = m.varint();
          else if (mt.field === 3) md.help = symbols[m.varint()];
          else if (mt.field === 4) md.unit = symbols[m.varint()];
          else m.skip(mt.wire);
        }
        out.metadata = md;
      } else t.skip(f.wire);
    }
    return out;
  });
  return { symbols, series };
}
