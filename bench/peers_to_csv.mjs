// CSV for bench/peers.sh's data sets other than flights (bench/flights_to_csv.mjs
// makes that one); every output goes to stdout, with a header line.
//   wide FLIGHTS_CSV AIRPORTS_CSV   flights_wide: each flight joined with its origin's
//                                   and destination's airport (name, city, state,
//                                   latitude, longitude) from vega-datasets' airports.csv
//   gcide INDEX DICT_DZ             gcide: one row per dictionary entry of Debian's
//                                   dict-gcide (id, headword, headwords, definition)
//   packages < Packages             debian_packages: one row per stanza of an apt
//                                   Packages index, the 25 fields of FIELDS
//   head N < CSV                    the header and the first N records of a CSV
import { createReadStream, readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { gunzipSync } from 'node:zlib'

const FIELDS = ['Package', 'Version', 'Architecture', 'Maintainer', 'Installed-Size',
  'Depends', 'Pre-Depends', 'Recommends', 'Suggests', 'Breaks', 'Replaces', 'Conflicts',
  'Provides', 'Homepage', 'Source', 'Section', 'Priority', 'Multi-Arch', 'Tag', 'Built-Using',
  'Description', 'Description-md5', 'Filename', 'Size', 'SHA256']

// a CSV field: NULL when undefined, quoted when it holds a comma, quote, CR or LF
const field = (v) => {
  if (v === undefined || v === null) return ''
  const s = String(v)
  return s === '' || /[",\r\n]/.test(s) ? '"' + s.replaceAll('"', '""') + '"' : s
}
const out = []
const emit = (cols) => {
  out.push(cols.map(field).join(',') + '\n')
  if (out.length >= 10000) flush()
}
const flush = () => { if (out.length) { process.stdout.write(out.join('')); out.length = 0 } }
const lines = (path) => createInterface({ input: path ? createReadStream(path) : process.stdin, crlfDelay: Infinity })

// split one CSV line (no embedded newlines: airports.csv, flights.csv)
const splitLine = (line) => {
  const cols = []
  let cur = ''
  let q = false
  for (let i = 0; i < line.length; i++) {
    const c = line[i]
    if (q) {
      if (c === '"' && line[i + 1] === '"') { cur += '"'; i++ } else if (c === '"') q = false; else cur += c
    } else if (c === '"') q = true
    else if (c === ',') { cols.push(cur); cur = '' } else cur += c
  }
  cols.push(cur)
  return cols
}

async function wide (flightsCsv, airportsCsv) {
  const airports = new Map()
  const rows = readFileSync(airportsCsv, 'utf8').split('\n').filter(Boolean)
  for (const r of rows.slice(1)) {
    const [iata, name, city, state, , lat, lon] = splitLine(r)
    airports.set(iata, [name, city, state, lat, lon])
  }
  const none = [undefined, undefined, undefined, undefined, undefined]
  const side = ['name', 'city', 'state', 'latitude', 'longitude']
  emit(['date', 'delay', 'distance', 'origin', 'destination',
    ...side.map(s => 'origin_' + s), ...side.map(s => 'destination_' + s)])
  let first = true
  for await (const line of lines(flightsCsv)) {
    if (first) { first = false; continue }
    if (!line) continue
    const f = line.split(',')	// flights_to_csv.mjs writes no quotes
    emit([...f, ...(airports.get(f[3]) ?? none), ...(airports.get(f[4]) ?? none)])
  }
  flush()
}

// dictd index: headword TAB offset TAB length, numbers in base 64 (A-Z a-z 0-9 + /)
function gcide (indexPath, dictPath) {
  const b64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
  const num = (s) => { let n = 0; for (const c of s) n = n * 64 + b64.indexOf(c); return n }
  const dict = gunzipSync(readFileSync(dictPath))	// dictzip is gzip
  const entries = new Map()	// "offset,length" -> headwords, in index order
  for (const line of readFileSync(indexPath, 'utf8').split('\n')) {
    if (!line) continue
    const [word, off, len] = line.split('\t')
    const key = num(off) + ',' + num(len)
    const e = entries.get(key)
    if (e) e.push(word); else entries.set(key, [word])
  }
  const sorted = [...entries].map(([k, words]) => [...k.split(',').map(Number), words])
    .sort((a, b) => a[0] - b[0] || a[1] - b[1])
  emit(['id', 'headword', 'headwords', 'definition'])
  let id = 0
  for (const [off, len, words] of sorted) {
    emit([++id, words[0], words.join('; '), dict.subarray(off, off + len).toString('utf8')])
  }
  flush()
}

async function packages () {
  emit(FIELDS.map(f => f.toLowerCase().replaceAll('-', '_')))
  let cur = {}
  let last = null
  const end = () => { if (Object.keys(cur).length) emit(FIELDS.map(f => cur[f])); cur = {}; last = null }
  for await (const line of lines()) {
    if (line === '') end()
    else if (line[0] === ' ' || line[0] === '\t') { if (last) cur[last] += '\n' + line.slice(1) } else {
      const i = line.indexOf(':')
      last = line.slice(0, i)
      cur[last] = line.slice(i + 1).trimStart()
    }
  }
  end()
  flush()
}

// header and the first n records; a record ends at a newline outside quotes
async function head (n) {
  let q = false
  let records = -1
  for await (const line of lines()) {
    out.push(line + '\n')
    for (const c of line) if (c === '"') q = !q
    if (!q && ++records >= n) break
    if (out.length >= 10000) flush()
  }
  flush()
}

const [cmd, a, b] = process.argv.slice(2)
if (cmd === 'wide') await wide(a, b)
else if (cmd === 'gcide') gcide(a, b)
else if (cmd === 'packages') await packages()
else if (cmd === 'head') await head(Number(a))
else { console.error('usage: peers_to_csv.mjs wide|gcide|packages|head ...'); process.exit(2) }
