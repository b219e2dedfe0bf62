'use strict'

// Draws the native / baseline throughput ratios of one run as a horizontal bar chart (SVG).

const escape = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c])

function drawRatios({ rows, date, commit, machine, settings }) {
  const barHeight = 22
  const gap = 8
  const left = 230
  const plotWidth = 460
  const top = 48
  const height = top + rows.length * (barHeight + gap) + 44
  const width = left + plotWidth + 90
  const maxRatio = Math.max(4, ...rows.map((r) => r.ratioMax)) * 1.05
  const x = (ratio) => left + (ratio / maxRatio) * plotWidth
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${left}" y="20" font-size="14" font-weight="bold">native / TS baseline throughput (higher is better)</text>`,
    `<text x="${left}" y="36" fill="#555">median of ${settings.reps} runs, whiskers = range of paired runs; ${escape(machine.cpus)} CPUs, ${escape(date.slice(0, 10))}${commit ? `, ${escape(commit)}` : ''}</text>`,
  ]
  for (const mark of [1, 3]) {
    parts.push(
      `<line x1="${x(mark)}" y1="${top - 4}" x2="${x(mark)}" y2="${height - 36}" stroke="#888" stroke-dasharray="4 3"/>`,
      `<text x="${x(mark)}" y="${height - 22}" text-anchor="middle" fill="#555">×${mark}</text>`,
    )
  }
  rows.forEach((r, i) => {
    const y = top + i * (barHeight + gap)
    const colour = r.target === null ? '#7a8ca3' : r.ratio >= r.target ? '#3a8d4f' : '#c0392b'
    const mid = y + barHeight / 2
    parts.push(
      `<text x="${left - 8}" y="${mid + 4}" text-anchor="end">${escape(r.label)}, ${r.inFlight} in flight</text>`,
      `<rect x="${left}" y="${y}" width="${Math.max(1, x(r.ratio) - left)}" height="${barHeight}" fill="${colour}"/>`,
      `<line x1="${x(r.ratioMin)}" y1="${mid}" x2="${x(r.ratioMax)}" y2="${mid}" stroke="black"/>`,
      `<line x1="${x(r.ratioMin)}" y1="${mid - 5}" x2="${x(r.ratioMin)}" y2="${mid + 5}" stroke="black"/>`,
      `<line x1="${x(r.ratioMax)}" y1="${mid - 5}" x2="${x(r.ratioMax)}" y2="${mid + 5}" stroke="black"/>`,
      `<text x="${x(r.ratioMax) + 6}" y="${mid + 4}">×${r.ratio.toFixed(2)}</text>`,
    )
  })
  parts.push(
    `<text x="${left}" y="${height - 6}" fill="#555">green: meets its target at 64 in flight; red: misses it; grey: no target</text>`,
    '</svg>',
    '',
  )
  return parts.join('\n')
}

module.exports = { drawRatios }
