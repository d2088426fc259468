// Convert vega-datasets' flights-3m.parquet (U.S. flights, 3 million rows) to
// CSV on stdout: date (timestamp), delay (minutes), distance (miles), origin,
// destination.  Reads one row group at a time so memory stays bounded.
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } from 'hyparquet'
import { compressors } from 'hyparquet-compressors'

const file = await asyncBufferFromFile(process.argv[2])
const metadata = await parquetMetadataAsync(file)
const pad = (n) => String(n).padStart(2, '0')
const out = []
const flush = () => { if (out.length) { process.stdout.write(out.join('')); out.length = 0 } }

process.stdout.write('date,delay,distance,origin,destination\n')
let rowStart = 0
for (const rg of metadata.row_groups) {
  const rowEnd = rowStart + Number(rg.num_rows)
  const rows = await parquetReadObjects({ file, metadata, rowStart, rowEnd, compressors })
  for (const r of rows) {
    const d = r.date
    const ts = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:00`
    out.push(`${ts},${r.delay},${r.distance},${r.origin},${r.destination}\n`)
    if (out.length >= 10000) flush()
  }
  flush()
  rowStart = rowEnd
}
