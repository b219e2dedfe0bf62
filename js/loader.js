'use strict'

// Loads the native binding through napi-rs's generated loader (binding.js), and when that
// fails says which platform package is missing and what to do, instead of the generated
// loader's generic message.

const { name, version, optionalDependencies = {} } = require('../package.json')

// napi-rs's platform name (the suffix of `npm/<platform>/` and of the binary package) for
// `process`, or for a stand-in with its platform, arch and report.
function platformName({ platform, arch, report }) {
  if (platform === 'win32') return `win32-${arch}-msvc`
  if (platform !== 'linux') return `${platform}-${arch}`
  return `linux-${arch}-${isMusl(report) ? 'musl' : 'gnu'}`
}

// The diagnostic report names the glibc that runs the process; musl has none, and its loader
// shows among the shared objects instead.
function isMusl(report) {
  const { header, sharedObjects = [] } = report?.getReport?.() ?? {}
  if (header?.glibcVersionRuntime) return false
  return sharedObjects.some((file) => file.includes('libc.musl-') || file.includes('ld-musl-'))
}

function noBinaryError(platform, cause) {
  const prebuilt = Object.keys(optionalDependencies).map((pkg) => pkg.slice(name.length + 1))
  const message = prebuilt.includes(platform)
    ? `${name}: the prebuilt binary for ${platform} did not load. It comes in the optional dependency ` +
      `${name}-${platform}@${version}: install without --omit=optional (or --no-optional), on the ` +
      `platform that runs the app (in Docker: inside the image, not on the host).`
    : `${name} has no prebuilt binary for ${platform} (prebuilt: ${prebuilt.join(', ') || 'none'}). ` +
      `Build it from source with Rust installed: in a checkout of ${name}, \`npm ci && npm run build\`, ` +
      `then run the app with NAPI_RS_NATIVE_LIBRARY_PATH=<checkout>/${name}.${platform}.node ` +
      `(README: "Other platforms").`
  const err = new Error(message, { cause })
  // ErrorCode.NoBinary (src/error.rs), written out: the binding that exports it did not load.
  err.code = 'STREAM_CACHE_NO_BINARY'
  return err
}

function loadBinding() {
  try {
    return require('../binding.js')
  } catch (cause) {
    throw noBinaryError(platformName(process), cause)
  }
}

module.exports = { loadBinding, platformName, noBinaryError }
